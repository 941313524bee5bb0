"""The exporter's metrics, collected from fake hosts through their fake kernel."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fakedev.sysfs import FakeHost
from fakedev.topologies import PfSpec, Topology
from qathw import sections, sysfsio
from qathw.fleet.metrics import ERROR_SOURCES, METRICS, QatCollector
from tests.exporter.scrape import Samples, scrape
from tests.fakedev_sysfs.helpers import FakeFactory

PF = "0000:6b:00.0"


def collect(fake: FakeHost, **kw: object) -> Samples:
    return scrape(QatCollector(fake.host, io=fake.kernel, **kw))  # type: ignore[arg-type]


def test_every_function_has_an_info_sample_with_its_labels(make_fake: FakeFactory) -> None:
    s = collect(make_fake("spr-2s"))
    infos = s.find("qat_function_info")
    assert len(infos) == 8 + 8 * 16 and set(infos) == {1.0}
    assert s.one("qat_function_info", bdf="0000:e8:00.0") == 1
    row = next(r for n, r, _ in s.rows if n == "qat_function_info" and r["bdf"] == "0000:e8:00.0")
    assert row == {
        "bdf": "0000:e8:00.0",
        "device": "qat_dev4",
        "generation": "gen4",
        "numa_node": "1",
        "role": "pf",
        "class_name": "4xxx",
        "product": "4xxx",
        "driver": "4xxx",
        "pf": "",
    }
    vf = next(r for n, r, _ in s.rows if n == "qat_function_info" and r["bdf"] == "0000:e8:00.1")
    assert (vf["role"], vf["pf"], vf["driver"]) == ("vf", "0000:e8:00.0", "vfio-pci")


def test_every_metric_has_help_text_and_counters_end_in_total(make_fake: FakeFactory) -> None:
    s = collect(make_fake("seed"))
    for name, spec in METRICS.items():
        family = name.removesuffix("_total") if spec.kind == "counter" else name
        assert s.helps.get(family), f"{name} has no HELP"
        assert name.endswith("_total") == (spec.kind == "counter"), name


def test_a_pf_taken_down_reads_down_at_the_next_scrape(make_fake: FakeFactory) -> None:
    fake = make_fake("seed")
    collector = QatCollector(fake.host, io=fake.kernel)
    assert scrape(collector).one("qat_function_up", bdf=PF) == 1
    fake.kernel.write(fake.host.pci_device(PF) / "qat" / "state", b"down")
    after = scrape(collector)
    assert after.one("qat_function_up", bdf=PF) == 0
    assert after.find("qat_heartbeat_ok", bdf=PF) == []  # debugfs is gone while down


def test_services_and_vf_counts_per_pf(make_fake: FakeFactory) -> None:
    s = collect(make_fake("seed"))
    services = {
        r["service"] for n, r, _ in s.rows if n == "qat_function_service_enabled" and r["bdf"] == PF
    }
    assert services == {"sym", "asym"}
    assert s.one("qat_sriov_numvfs", bdf=PF) == 16
    assert s.one("qat_sriov_totalvfs", bdf=PF) == 16
    assert s.find("qat_sriov_numvfs", bdf="0000:6b:00.1") == []  # a VF has no SR-IOV


def test_heartbeat_and_firmware_counters_come_from_debugfs(make_fake: FakeFactory) -> None:
    fake = make_fake("seed")
    hb = fake.host.debugfs / f"qat_4xxx_{PF}" / "heartbeat"
    fake.kernel.tree.put(hb / "status", "-1\n\0", 0o400)  # as the kernel says "unresponsive"
    s = collect(fake)
    assert s.one("qat_heartbeat_ok", bdf=PF) == 0
    assert s.one("qat_heartbeat_ok", bdf="0000:70:00.0") == 1
    assert s.find("qat_heartbeat_queries_sent_total", bdf=PF)
    assert s.find("qat_firmware_requests_total", bdf=PF)


def test_telemetry_counters_appear_once_enabled(make_fake: FakeFactory) -> None:
    fake = make_fake(Topology("t", (PfSpec(PF, services="sym;dc"),)))
    collector = QatCollector(fake.host, io=fake.kernel)
    before = scrape(collector)
    assert before.one("qat_telemetry_enabled", bdf=PF) == 0
    assert before.find("qat_telemetry_device") == []
    tl = fake.host.debugfs / f"qat_4xxx_{PF}" / "telemetry"
    fake.kernel.write(tl / "control", b"1\n")
    fake.kernel.write(tl / "rp_C_data", b"5\n")
    s = scrape(collector)
    assert s.one("qat_telemetry_enabled", bdf=PF) == 1
    assert s.find("qat_telemetry_device", bdf=PF, counter="bw_in")
    # sym;dc on a gen4 PF: ring pair 5 is the second of its four, sym (hardware.md)
    assert s.find("qat_telemetry_ring_pair", bdf=PF, slot="C", ring_pair="5", service="sym")
    assert s.find("qat_telemetry_ring_pair", slot="A") == []  # no ring pair selected there


def test_an_unreadable_file_is_left_out_and_counted(make_fake: FakeFactory) -> None:
    fake = make_fake("seed")
    numvfs = Path(os.path.realpath(fake.host.pci_device(PF))) / "sriov_numvfs"
    numvfs.unlink()
    numvfs.mkdir()  # read(2) fails (EISDIR) where the kernel has an attribute
    collector = QatCollector(fake.host, io=fake.kernel)
    first = scrape(collector)
    assert first.find("qat_sriov_numvfs", bdf=PF) == []
    assert first.one("qat_sriov_numvfs", bdf="0000:70:00.0") == 16  # the others still there
    assert first.one("qat_function_info", bdf=PF) == 1
    assert first.one("qat_scrape_errors_total", source="sysfs") >= 1
    assert scrape(collector).one("qat_scrape_errors_total", source="sysfs") > first.one(
        "qat_scrape_errors_total", source="sysfs"
    )


def test_a_host_discovery_cannot_read_still_answers_with_the_error_counted(
    make_fake: FakeFactory,
) -> None:
    fake = make_fake("seed")
    numvfs = Path(os.path.realpath(fake.host.pci_device(PF))) / "sriov_numvfs"
    numvfs.unlink()
    os.mkfifo(numvfs)  # no kernel attribute is a FIFO: discovery refuses the whole tree
    s = collect(fake)
    assert s.find("qat_function_info") == []
    assert s.one("qat_scrape_errors_total", source="discovery") == 1
    assert s.find("qat_scrape_duration_seconds")


def test_every_error_source_is_exported_from_the_first_scrape(make_fake: FakeFactory) -> None:
    s = collect(make_fake("empty"))
    assert {r["source"] for n, r, _ in s.rows if n == "qat_scrape_errors_total"} == set(
        ERROR_SOURCES
    )
    assert s.find("qat_function_info") == []


def test_a_held_section_counts_one_holder(
    make_fake: FakeFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from demo.seed import write_seed_configs

    fake = make_fake("seed")
    write_seed_configs(tmp_path / "etc")
    monkeypatch.setenv("QATHW_CONFIG_DIR", str(tmp_path / "etc"))
    monkeypatch.setenv("QATHW_RUNTIME_DIR", str(tmp_path / "run"))
    collector = QatCollector(fake.host, io=fake.kernel)
    with sysfsio.using(fake.kernel):
        held = sections.user_start("SSL", host=fake.host)
    try:
        s = scrape(collector)
        assert s.one("qat_section_holders", section=held.name) == 1
        others = [
            v for n, r, v in s.rows if n == "qat_section_holders" and r["section"] != held.name
        ]
        assert others and set(others) == {0.0}
    finally:
        held.stop()
    assert scrape(collector).one("qat_section_holders", section=held.name) == 0
