"""``qathw telemetry``: off, enabling (root), ring-pair slots, --watch, --json."""

from __future__ import annotations

import json

from fakedev.topologies import PfSpec, Topology
from tests.fakedev_sysfs.helpers import FakeFactory, run_cli

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
    assert f"{PF} slot B" in r.out and "ring pair 5, service dc" in r.out


def test_watch_with_json_prints_one_document_per_line(make_fake: FakeFactory) -> None:
    fake = make_fake(one_pf())
    run_cli(fake, "telemetry", PF, "--enable")
    r = run_cli(fake, "telemetry", PF, "--json", "--watch", "0.01", "--count", "3")
    docs = [json.loads(line) for line in r.out.splitlines()]
    assert len(docs) == 3 and all(d["schema_version"] == 1 for d in docs)
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
