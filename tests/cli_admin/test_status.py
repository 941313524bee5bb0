"""``qathw status``: adf_ctl's line format exactly, and JSON."""

from __future__ import annotations

import json
import re
from pathlib import Path

from fakedev.topologies import EmulatedSpec, PfSpec, Topology
from tests.fakedev_sysfs.helpers import FakeFactory, run_cli, write_endpoint_file

# docs/hardware.md#adf_ctl-status: the header and the first device line, verbatim.
REFERENCE_HEADER = "There is 3 QAT acceleration device(s) in the system:"
REFERENCE_DEV0 = (
    " qat_dev0 - type: c6xx,  inst_id: 0,  node_id: 0,  bsf: 0000:3d:00.0,  "
    "#accel: 5 #engines: 10 state: up"
)
# The field rules of docs/hardware.md#adf_ctl-status as a pattern: one leading space,
# ", " plus a second space between labelled fields, bsf as %04x:%02x:%02x.%x, no commas
# after bsf.
LINE = re.compile(
    r"^ qat_dev(\d+) - type: ([0-9a-z]+),  inst_id: (\d+),  node_id: (\d+),  "
    r"bsf: ([0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]),  "
    r"#accel: (\d+) #engines: (\d+) state: (up|down)$"
)


def test_three_device_host_matches_the_adf_ctl_format_line_by_line(
    make_fake: FakeFactory,
) -> None:
    r = run_cli(make_fake("c62x-3dev"), "status")
    assert r.rc == 0 and r.err == ""
    lines = r.out.splitlines()
    assert lines[0] == REFERENCE_HEADER
    assert lines[1] == REFERENCE_DEV0
    assert lines[2] == (
        " qat_dev1 - type: c6xx,  inst_id: 1,  node_id: 0,  bsf: 0000:3f:00.0,  "
        "#accel: 5 #engines: 10 state: up"
    )
    assert lines[3] == (
        " qat_dev2 - type: c6xx,  inst_id: 2,  node_id: 1,  bsf: 0000:da:00.0,  "
        "#accel: 5 #engines: 10 state: up"
    )
    assert len(lines) == 4
    for line in lines[1:]:
        assert LINE.match(line), line


def test_the_header_stays_singular_and_counts(make_fake: FakeFactory) -> None:
    r = run_cli(make_fake("dh895xcc"), "status")
    lines = r.out.splitlines()
    assert lines[0] == "There is 33 QAT acceleration device(s) in the system:"
    assert lines[1].startswith(" qat_dev0 - type: dh895xcc,  inst_id: 0,")
    assert lines[1].endswith("#accel: 6 #engines: 12 state: up")
    # VFs on their kernel driver are listed as adf_ctl lists them: one accel, one engine.
    assert lines[2] == (
        " qat_dev1 - type: dh895xccvf,  inst_id: 0,  node_id: 0,  bsf: 0000:03:01.0,  "
        "#accel: 1 #engines: 1 state: up"
    )
    assert all(LINE.match(line) for line in lines[1:])


def test_a_vf_whose_pf_is_down_is_down(make_fake: FakeFactory) -> None:
    r = run_cli(make_fake("awkward"), "status")
    down = [line for line in r.out.splitlines() if "bsf: 0000:70:00.1," in line]
    assert down and down[0].endswith("state: down")


def test_no_device_is_a_zero_count_and_success(make_fake: FakeFactory) -> None:
    r = run_cli(make_fake("empty"), "status")
    assert (r.rc, r.out) == (0, "There is 0 QAT acceleration device(s) in the system:\n")


def test_one_device_by_name_or_address_prints_its_line_only(make_fake: FakeFactory) -> None:
    fake = make_fake("c62x-3dev")
    by_name = run_cli(fake, "status", "qat_dev2")
    by_bdf = run_cli(fake, "status", "0000:da:00.0")
    assert by_name.out == by_bdf.out
    assert by_name.out.startswith(" qat_dev2 - type: c6xx,  inst_id: 2,  node_id: 1,")


def test_unknown_device_is_an_error_with_a_hint(make_fake: FakeFactory) -> None:
    r = run_cli(make_fake("c62x-3dev"), "status", "qat_dev7")
    assert r.rc == 1
    assert r.err.startswith("qathw: no QAT acceleration device qat_dev7: ")
    bad = run_cli(make_fake("c62x-3dev"), "status", "qat_devX")
    assert bad.rc == 2 and "write qat_devN" in bad.err


def test_json_has_schema_version_and_raw_fields(make_fake: FakeFactory) -> None:
    r = run_cli(make_fake("c62x-3dev"), "status", "--json")
    doc = json.loads(r.out)
    assert doc["schema_version"] == 2 and doc["count"] == 3
    assert doc["devices"][2] == {
        "name": "qat_dev2",
        "accel_id": 2,
        "class_name": "c6xx",
        "inst_id": 2,
        "numa_node": 1,
        "bdf": "0000:da:00.0",
        "num_accel": 5,
        "num_engines": 10,
        "state": "up",
        "role": "pf",
        "emulated": False,
    }


def test_emulated_endpoints_follow_real_functions(make_fake: FakeFactory, tmp_path: Path) -> None:
    ep = write_endpoint_file(tmp_path / "ep")
    fake = make_fake(
        Topology("e", (PfSpec("0000:6b:00.0"),), emulated=(EmulatedSpec("0000:00:04.0", ep),))
    )
    lines = run_cli(fake, "status").out.splitlines()
    assert lines[0] == "There is 2 QAT acceleration device(s) in the system:"
    assert lines[2] == (
        " qat_dev1 - type: 4xxxvf,  inst_id: 0,  node_id: 0,  bsf: 0000:00:04.0,  "
        "#accel: 1 #engines: 1 state: up"
    )


def test_every_gen4_product_reports_its_class_and_engines(make_fake: FakeFactory) -> None:
    lines = run_cli(make_fake("gen4-mix"), "status").out.splitlines()
    pfs = [line for line in lines if ":00.0," in line]
    assert [line.split("type: ")[1].split(",")[0] for line in pfs] == [
        "4xxx",
        "4xxx",
        "4xxx",
        "420xx",
    ]
    assert pfs[0].endswith("#accel: 1 #engines: 9 state: up")
    assert pfs[3].endswith("#accel: 1 #engines: 17 state: up")
    assert all(LINE.match(line) for line in lines[1:])
