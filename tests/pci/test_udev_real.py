"""pyudev and the sysfs reader agree on this machine's real PCI devices; events arrive."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from qathw import discovery, ids, pci, udev
from qathw.paths import HostRoot

REAL = HostRoot()


def test_pyudev_and_sysfs_reader_list_the_same_functions() -> None:
    from_udev = [d.bdf for d in udev.list_pci()]
    from_sysfs = [str(a) for a in pci.list_addresses(REAL)]
    assert from_udev == from_sysfs
    assert from_sysfs  # every machine that runs this has some PCI function


def test_pyudev_and_sysfs_reader_agree_on_every_device() -> None:
    for dev in udev.list_pci():
        fn = pci.read_function(REAL, dev.bdf)
        assert (dev.vendor, dev.device) == (fn.vendor, fn.device), dev.bdf
        assert (dev.subsystem_vendor, dev.subsystem_device) == (
            fn.subsystem_vendor,
            fn.subsystem_device,
        ), dev.bdf
        assert dev.class_code == fn.class_code, dev.bdf
        assert dev.driver == fn.driver, dev.bdf


def test_discovery_finds_exactly_the_qat_functions_udev_sees() -> None:
    qat_by_udev = sorted(
        d.bdf
        for d in udev.list_pci()
        if d.vendor is not None and d.device is not None and ids.lookup(d.vendor, d.device)
    )
    found = sorted(f.bdf for f in discovery.discover(REAL) if f.role is not discovery.Role.EMULATED)
    assert found == qat_by_udev


def _poke(bdf: str, action: str, stop: threading.Event) -> None:
    # A synthetic uevent: the kernel sends ACTION=<action> for the device and changes
    # nothing else (Documentation/ABI/testing/sysfs-uevent).
    while not stop.wait(0.2):
        Path(f"/sys/bus/pci/devices/{bdf}/uevent").write_text(action)


@pytest.mark.parametrize("action", ["bind", "add"])
def test_monitor_receives_real_kernel_uevents(action: str) -> None:
    bound = [d for d in udev.list_pci() if d.driver]
    target = (bound or udev.list_pci())[0]
    events = udev.monitor(actions=(action,), timeout=10, count=1)
    stop = threading.Event()
    poker = threading.Thread(target=_poke, args=(target.bdf, action, stop), daemon=True)
    poker.start()
    try:
        got = list(events)
    finally:
        stop.set()
        poker.join()
    assert len(got) == 1
    ev = got[0]
    assert (ev.action, ev.bdf, ev.vendor, ev.device) == (
        action,
        target.bdf,
        target.vendor,
        target.device,
    )
    if action == "bind":
        assert ev.driver == target.driver
    assert ev.seqnum is not None and abs(ev.timestamp - time.time()) < 30


def test_monitor_times_out_quietly_when_nothing_happens() -> None:
    start = time.monotonic()
    assert list(udev.monitor(actions=("remove",), timeout=0.3)) == []
    assert time.monotonic() - start < 5
