"""``qathw labels``: node-feature-discovery's local feature file for a host's QAT."""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from qathw.cli import JSON_SCHEMA_VERSION
from qathw.fleet.nfd import label_problem
from tests.fakedev_sysfs.helpers import FakeFactory, run_cli

P = "feature.node.kubernetes.io/"


def test_a_two_socket_host_gets_counts_generation_product_and_services(
    make_fake: FakeFactory,
) -> None:
    r = run_cli(make_fake("spr-2s"), "labels")
    assert r.rc == 0, r.err
    assert r.out.splitlines() == [
        "# QAT labels written by 'qathw labels'; rewritten, never edited by hand",
        f"{P}qat.present=true",
        f"{P}qat.pf-count=8",
        f"{P}qat.pf-up-count=8",
        f"{P}qat.vf-count=128",
        f"{P}qat.vfio-vf-count=128",
        f"{P}qat.gen4=true",
        f"{P}qat.product.4xxx=true",
        f"{P}qat.service.asym=true",
        f"{P}qat.service.dc=true",
        f"{P}qat.service.sym=true",
    ]


def test_services_of_a_pf_that_is_down_are_not_offered(make_fake: FakeFactory) -> None:
    fake = make_fake("seed")
    run_cli(fake, "down", "0000:70:00.0")  # the dc PF
    r = run_cli(fake, "labels")
    assert f"{P}qat.pf-up-count=1" in r.out.splitlines()
    assert f"{P}qat.service.dc=true" not in r.out


def test_a_host_without_qat_gets_no_label(make_fake: FakeFactory) -> None:
    r = run_cli(make_fake("empty"), "labels")
    assert r.rc == 0
    assert [line for line in r.out.splitlines() if not line.startswith("#")] == []


def test_output_to_a_directory_replaces_the_file_atomically(
    make_fake: FakeFactory, tmp_path: Path
) -> None:
    features = tmp_path / "features.d"
    features.mkdir()
    (features / "qathw").write_text("feature.node.kubernetes.io/qat.stale=true\n")
    r = run_cli(make_fake("seed"), "labels", "--output", str(features))
    assert r.rc == 0, r.err
    assert r.err.endswith(f"labels written to {features / 'qathw'}\n")
    assert sorted(os.listdir(features)) == ["qathw"]  # no temporary dot file left behind
    written = features / "qathw"
    assert stat.S_IMODE(written.stat().st_mode) == 0o644  # NFD's worker may be another user
    assert "qat.stale" not in written.read_text()
    assert f"{P}qat.pf-count=2" in written.read_text().splitlines()


def test_output_into_a_missing_directory_says_what_to_create(
    make_fake: FakeFactory, tmp_path: Path
) -> None:
    r = run_cli(make_fake("seed"), "labels", "--output", str(tmp_path / "no" / "qathw"))
    assert r.rc == 1
    assert f"writing {tmp_path / 'no' / 'qathw'}: No such file or directory" in r.err
    assert f"create {tmp_path / 'no'}" in r.err


def test_expiry_adds_nfds_directive_before_the_labels(make_fake: FakeFactory) -> None:
    r = run_cli(make_fake("seed"), "labels", "--expiry", "2h")
    lines = r.out.splitlines()
    assert lines[1].startswith("# +expiry-time=")
    stamp = datetime.strptime(lines[1].split("=", 1)[1], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert timedelta(hours=1, minutes=59) < stamp - datetime.now(UTC) <= timedelta(hours=2)
    assert all(line.startswith(P) for line in lines[2:])


def test_json_gives_the_labels_as_a_mapping(make_fake: FakeFactory) -> None:
    r = run_cli(make_fake("seed"), "labels", "--json")
    doc = json.loads(r.out)
    assert doc["schema_version"] == JSON_SCHEMA_VERSION
    assert doc["labels"][f"{P}qat.vf-count"] == "32"
    assert doc["expiry_time"] is None and doc["skipped"] == []


def test_a_service_name_no_label_can_hold_is_skipped_and_said(make_fake: FakeFactory) -> None:
    fake = make_fake("seed")
    services = fake.host.pci_device("0000:6b:00.0") / "qat" / "cfg_services"
    fake.kernel.tree.put(services.resolve(), "sym;bad service!\n", 0o644)
    r = run_cli(fake, "labels")
    assert r.rc == 0
    assert f"{P}qat.service.sym=true" in r.out.splitlines()
    assert "bad service" not in r.out
    assert r.err.startswith(f"qathw: label skipped: {P}qat.service.bad service!=true: name ")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--expiry", "0"], "'0' is not a positive duration"),
        (["--expiry", "1w"], "'1w' is not a positive duration"),
        (["--json", "--output", "/tmp"], "--json and --output do not go together"),
    ],
)
def test_bad_arguments_are_usage_errors(
    make_fake: FakeFactory, args: list[str], message: str
) -> None:
    r = run_cli(make_fake("empty"), "labels", *args)
    assert r.rc == 2 and message in r.err


@pytest.mark.parametrize(
    ("key", "value", "ok"),
    [
        (f"{P}qat.present", "true", True),
        (f"{P}qat.vf-count", "", True),
        (f"{P}{'a' * 63}", "1", True),
        (f"{P}{'a' * 64}", "1", False),
        (f"{P}-qat", "1", False),
        (f"{P}qat.x", "a b", False),
        (f"{P}qat.x", "v" * 64, False),
        ("Feature.Node/qat", "1", False),
    ],
)
def test_label_syntax_is_kubernetes(key: str, value: str, ok: bool) -> None:
    assert (label_problem(key, value) is None) == ok
