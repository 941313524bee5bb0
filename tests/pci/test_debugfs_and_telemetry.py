"""debugfs: dev_cfg, heartbeat, fw_counters; telemetry parsing, control and errors."""

from __future__ import annotations

import pytest

from fakedev.topologies import PfSpec, Topology
from qathw import debugfs, sysfsio
from qathw.errors import DeviceAccessError, DeviceStateError
from qathw.telemetry import Counter, Telemetry, format_line, parse
from tests.fakedev_sysfs.helpers import NOBODY, FakeFactory, as_user, world_readable_dir

PF = "0000:6b:00.0"


def test_dev_cfg_parses_sections_and_keys() -> None:
    text = "[GENERAL]\nServicesEnabled = sym;asym\nPmIdleSupport = 1\n[KERNEL]\n[Accelerator0]\n"
    cfg = debugfs.parse_dev_cfg(text)
    assert cfg == {
        "GENERAL": {"ServicesEnabled": "sym;asym", "PmIdleSupport": "1"},
        "KERNEL": {},
        "Accelerator0": {},
    }


def test_fw_counters_parse_one_row_per_engine() -> None:
    text = (
        "AE         Requests       Responses\n"
        " 0:              12              11\n"
        " 1:               3               3\n"
    )
    rows = debugfs.parse_fw_counters(text)
    assert [(r.engine, r.requests, r.responses) for r in rows] == [(0, 12, 11), (1, 3, 3)]


def test_debugfs_of_an_up_pf(make_fake: FakeFactory) -> None:
    fake = make_fake("seed")
    info = debugfs.read(fake.host, "4xxx", PF)
    assert info.present
    assert info.services == "sym;asym"
    assert info.heartbeat is not None and info.heartbeat.alive is True
    assert info.fw_counters is not None and len(info.fw_counters) == 8
    assert info.telemetry_control == 0


def test_debugfs_of_a_down_pf_has_only_dev_cfg(make_fake: FakeFactory) -> None:
    fake = make_fake("awkward")
    fake.kernel.write(fake.host.pci_device("0000:70:00.0") / "qat" / "state", b"up")
    fake.kernel.write(fake.host.pci_device("0000:70:00.0") / "qat" / "state", b"down")
    info = debugfs.read(fake.host, "4xxx", "0000:70:00.0")
    assert info.dev_cfg is not None and info.heartbeat is None and info.fw_counters is None


def test_debugfs_without_privilege_is_access_denied() -> None:
    from fakedev import sysfs

    with world_readable_dir() as d:
        fake = sysfs.build(d / "host", "seed")
        import os

        os.chmod(d / "host", 0o755)
        info = as_user(
            NOBODY,
            lambda: (lambda i: (i.present, dict(i.unreadable)))(
                debugfs.read(fake.host, "4xxx", PF)
            ),
        )
    assert info == (None, {"debugfs": "access denied"})


def test_telemetry_line_round_trips_the_kernel_format() -> None:
    c = Counter("bw_in", 1234, 1, 5000, 800)
    line = format_line(c)
    assert line[:23] == "bw_in".ljust(23) and len(line) == 23 + 4 * 20
    assert parse(line).counters == (c,)


def test_ring_pair_file_parses_rp_num_and_service() -> None:
    text = f"{'sample_cnt':<23}{3:>20}\n{'rp_num':<23}{5:>20}\n{'service_type':<23}{'sym':>20}\n"
    sample = parse(text + f"{'bw_out':<23}{9:>20}\n")
    assert (sample.rp_num, sample.service_type, sample.sample_cnt) == (5, "sym", 3)
    assert sample.get("bw_out") == Counter("bw_out", 9)


def test_unparsable_telemetry_line_is_an_error() -> None:
    with pytest.raises(ValueError, match="unexpected telemetry line"):
        parse("bw_in   12 13\n")


def test_telemetry_off_says_how_to_enable(make_fake: FakeFactory) -> None:
    fake = make_fake(Topology("t", (PfSpec(PF),)))
    tl = Telemetry(fake.host, "4xxx", PF, io=fake.kernel)
    with pytest.raises(DeviceStateError, match="not enabled") as info:
        tl.device()
    assert "--enable" in str(info.value)


def test_telemetry_enabled_with_history_has_min_max_avg(make_fake: FakeFactory) -> None:
    fake = make_fake(Topology("t", (PfSpec(PF),)))
    with sysfsio.using(fake.kernel):
        tl = Telemetry(fake.host, "4xxx", PF)
        tl.set_control(3)
        assert tl.control() == 3
        first, second = tl.device(), tl.device()
    assert first.counters[0].name == "sample_cnt"
    assert second.sample_cnt == (first.sample_cnt or 0) + 1
    assert all(c.min is not None for c in first.counters)


def test_telemetry_refuses_bad_history_and_bad_ring_pairs(make_fake: FakeFactory) -> None:
    fake = make_fake(Topology("t", (PfSpec(PF),)))
    tl = Telemetry(fake.host, "4xxx", PF, io=fake.kernel)
    with pytest.raises(ValueError, match="0-4"):
        tl.set_control(5)
    tl.set_control(1)
    with pytest.raises(DeviceStateError, match="refused ring pair 64"):
        tl.select_rp("A", 64)
    with pytest.raises(ValueError, match="slot"):
        tl.select_rp("E", 1)


def test_telemetry_of_a_down_pf_does_not_exist(make_fake: FakeFactory) -> None:
    fake = make_fake(Topology("t", (PfSpec(PF, state="down"),)))
    fake.kernel.write(fake.host.pci_device(PF) / "qat" / "state", b"up")
    fake.kernel.write(fake.host.pci_device(PF) / "qat" / "state", b"down")
    with pytest.raises(DeviceStateError, match="has no telemetry"):
        Telemetry(fake.host, "4xxx", PF, io=fake.kernel).control()


def test_telemetry_without_privilege_is_a_permission_error() -> None:
    from fakedev import sysfs

    with world_readable_dir() as d:
        fake = sysfs.build(d / "host", Topology("t", (PfSpec(PF),)))
        import os

        os.chmod(d / "host", 0o755)

        def control() -> str:
            try:
                Telemetry(fake.host, "4xxx", PF, io=fake.kernel).control()
            except DeviceAccessError as exc:
                return str(exc)
            return "no error"

        message = as_user(NOBODY, control)
    assert "permission denied" in message and "root" in message
