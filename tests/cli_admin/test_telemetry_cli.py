"""``qathw telemetry``: off, enabling (root), ring-pair slots, --watch, --json; emulated
endpoints' own counters."""

from __future__ import annotations

import json

from fakedev.topologies import PfSpec, Topology
from qathw.cli import JSON_SCHEMA_VERSION
from tests.exporter.conftest import served
from tests.exporter.served import BDF, ServedHost, qathw, send_requests
from tests.fakedev_sysfs.helpers import FakeFactory, run_cli

__all__ = ["served"]  # the fixture: a fake host whose endpoint a real device process serves

PF = "0000:6b:00.0"


def one_pf() -> Topology:
    return Topology("t", (PfSpec(PF, services="sym;dc"),))


def test_telemetry_off_says_how_to_turn_it_on(make_fake: FakeFactory) -> None:
    r = run_cli(make_fake(one_pf()), "telemetry", PF)
    assert r.rc == 1
    assert r.err == (
        f"qathw: telemetry of {PF} is not enabled: enable it with "
        f"'qathw telemetry {PF} --enable' (as root)\n"
    )


def test_enable_then_read_fits_80_columns(make_fake: FakeFactory) -> None:
    fake = make_fake(one_pf())
    r = run_cli(fake, "telemetry", PF, "--enable", "4")
    assert r.rc == 0 and "telemetry enabled (history 4)" in r.err
    lines = r.out.splitlines()
    assert lines[0].startswith(f"{PF} device telemetry at ")
    assert lines[1].split() == ["counter", "value", "min", "max", "avg"]
    assert lines[2].split()[0] == "sample_cnt"
    assert max(len(line) for line in lines) <= 80


def test_ring_pair_slot_shows_its_service(make_fake: FakeFactory) -> None:
    fake = make_fake(one_pf())
    r = run_cli(fake, "telemetry", PF, "--enable", "--rp", "b=5")
    assert r.rc == 0
    # sym;dc on a gen4 PF: dc on ring pairs 0 and 2 of each four, sym on 1 and 3
    assert f"{PF} slot B" in r.out and "ring pair 5, service sym" in r.out


def test_watch_with_json_prints_one_document_per_line(make_fake: FakeFactory) -> None:
    fake = make_fake(one_pf())
    run_cli(fake, "telemetry", PF, "--enable")
    r = run_cli(fake, "telemetry", PF, "--json", "--watch", "0.01", "--count", "3")
    docs = [json.loads(line) for line in r.out.splitlines()]
    assert len(docs) == 3 and all(d["schema_version"] == JSON_SCHEMA_VERSION for d in docs)
    counts = [d["device"]["counters"][0]["value"] for d in docs]
    assert counts == sorted(counts) and len(set(counts)) == 3  # fresh samples each time


def test_watch_without_a_number_refreshes_each_second(make_fake: FakeFactory) -> None:
    fake = make_fake(one_pf())
    run_cli(fake, "telemetry", PF, "--enable")
    r = run_cli(fake, "telemetry", PF, "--json", "--watch", "--count", "2")
    assert r.rc == 0, r.err
    first, second = (json.loads(line) for line in r.out.splitlines())
    assert 1.0 <= second["time"] - first["time"] < 3.0  # the device samples once a second


def test_disable(make_fake: FakeFactory) -> None:
    fake = make_fake(one_pf())
    run_cli(fake, "telemetry", PF, "--enable")
    assert run_cli(fake, "telemetry", PF, "--disable").rc == 0
    assert run_cli(fake, "telemetry", PF).rc == 1


def test_vfs_and_gen2_pfs_have_no_telemetry(make_fake: FakeFactory) -> None:
    vf = run_cli(make_fake("seed"), "telemetry", "0000:6b:00.1")
    assert vf.rc == 1 and "telemetry is per PF" in vf.err and "0000:6b:00.0" in vf.err
    gen2 = run_cli(make_fake("c62x-3dev"), "telemetry", "0000:3d:00.0")
    assert gen2.rc == 1 and "(gen2): it has no telemetry" in gen2.err


def test_bad_arguments_are_usage_errors(make_fake: FakeFactory) -> None:
    fake = make_fake(one_pf())
    assert run_cli(fake, "telemetry", PF, "--enable", "7").rc == 2
    assert run_cli(fake, "telemetry", PF, "--rp", "Z=1").rc == 2
    assert run_cli(fake, "telemetry", PF, "--watch", "0").rc == 2
    assert run_cli(fake, "telemetry", PF, "--enable", "--disable").rc == 2


# --- fake trees run as an operator runs qathw: their own process, plain files ------------


def test_an_emulated_endpoint_shows_its_devices_own_counts(served: ServedHost) -> None:
    send_requests(served, 70)
    done = qathw("telemetry", BDF, "--rp", "a=9", "--rp", "B=0", "--json", env=served.env)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    device = {c["name"]: c["value"] for c in doc["device"]["counters"]}
    assert device == {"requests": 70, "request_bytes": 70 * 128, "response_bytes": 70 * 32}
    a, b = doc["ring_pairs"]["A"], doc["ring_pairs"]["B"]
    assert (a["rp_num"], a["counters"][0]["value"]) == (9, 70)
    assert (b["rp_num"], b["counters"][0]["value"]) == (0, 0)


def test_an_emulated_endpoint_table_names_the_bank(served: ServedHost) -> None:
    done = qathw("telemetry", BDF, "--rp", "C=63", env=served.env)
    assert done.returncode == 0, done.stderr
    assert f"{BDF} slot C\nring pair 63\ncounter" in done.stdout
    assert [line.split()[0] for line in done.stdout.splitlines()[2:5]] == [
        "requests",
        "request_bytes",
        "response_bytes",
    ]


def test_an_emulated_endpoint_refuses_a_bank_it_has_not(served: ServedHost) -> None:
    done = qathw("telemetry", BDF, "--rp", "A=64", env=served.env)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        f"qathw: {BDF} has no counted bank 64: banks are numbered 0 to 63 "
        f"(see 'qathw show {BDF}')\n"
    )


def test_an_emulated_endpoint_has_nothing_to_enable(served: ServedHost) -> None:
    done = qathw("telemetry", BDF, "--enable", env=served.env)
    assert done.returncode == 1
    assert "its device counts always, there is nothing to enable or disable" in done.stderr


def test_a_plain_file_is_not_taken_for_the_kernels_telemetry(make_fake: FakeFactory) -> None:
    # Without the fake kernel a written slot reads back what was written: no kernel does.
    fake = make_fake(one_pf())
    env = {"QATHW_SYSFS_ROOT": str(fake.prefix)}
    done = qathw("telemetry", PF, "--enable", "--rp", "A=1", env=env)
    assert done.returncode == 1
    assert "is not the kernel's telemetry (it does not begin with sample_cnt" in done.stderr
    assert done.stderr.endswith(
        ": the sysfs tree is not the kernel's; check --sysfs-root or QATHW_SYSFS_ROOT\n"
    )
    assert "please report it" not in done.stderr
