"""The CLI as a real process on this machine's real /sys: no crash, true answers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

from qathw import ids, udev

ROOT = Path(__file__).resolve().parents[2]


def qathw(*argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "QATHW_SYSFS_ROOT"}
    return subprocess.run(
        [sys.executable, "-m", "qathw", *argv],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def qat_functions_by_udev() -> list[str]:
    return sorted(
        d.bdf
        for d in udev.list_pci()
        if d.vendor is not None and d.device is not None and ids.lookup(d.vendor, d.device)
    )


def test_list_tells_the_truth() -> None:
    r = qathw("list", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    listed = sorted(f["bdf"] for f in doc["functions"] if f["role"] != "emulated")
    assert listed == qat_functions_by_udev()
    text = qathw("list")
    assert text.returncode == 0
    if not listed:
        assert (
            text.stdout == "" and "no QAT function found under /sys/bus/pci/devices" in text.stderr
        )


def test_status_tells_the_truth() -> None:
    r = qathw("status")
    assert r.returncode == 0, r.stderr
    listed = json.loads(qathw("list", "--json").stdout)["functions"]
    n = sum(1 for f in listed if f["accel_id"] is not None)
    assert r.stdout.splitlines()[0] == f"There is {n} QAT acceleration device(s) in the system:"
    assert len(r.stdout.splitlines()) == n + 1


def test_doctor_runs_and_exits_by_its_findings() -> None:
    r = qathw("doctor", "--json")
    doc = json.loads(r.stdout)
    assert r.returncode == (0 if doc["ok"] else 1)
    assert r.stderr == ""
    first = doc["checks"][0]
    if not qat_functions_by_udev():
        assert first["status"] == "fail" and "no QAT device on this host" in first["detail"]


def test_monitor_prints_a_bind_event_as_a_json_line() -> None:
    devices = [d for d in udev.list_pci() if d.driver] or udev.list_pci()
    target = devices[0]
    proc = subprocess.Popen(
        [sys.executable, "-m", "qathw", "monitor", "--json", "--count", "1", "--timeout", "20"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stop = threading.Event()

    def poke() -> None:  # until the monitor, once listening, has seen one
        while not stop.wait(0.25):
            Path(f"/sys/bus/pci/devices/{target.bdf}/uevent").write_text("bind")

    poker = threading.Thread(target=poke, daemon=True)
    poker.start()
    try:
        out, err = proc.communicate(timeout=30)
    finally:
        stop.set()
        poker.join()
    assert proc.returncode == 0, err
    first, line = out.splitlines()
    assert json.loads(first)["action"] == "listening"
    ev = json.loads(line)
    assert (ev["action"], ev["bdf"], ev["driver"]) == ("bind", target.bdf, target.driver)
    assert ev["schema_version"] == 2


def test_monitor_refuses_a_fake_tree(tmp_path: Path) -> None:
    (tmp_path / "sys").mkdir()
    r = qathw("monitor", "--sysfs-root", str(tmp_path / "sys"))
    assert r.returncode == 2 and "a --sysfs-root tree sends none" in r.stderr


def test_monitor_says_first_that_it_is_listening() -> None:
    r = qathw("monitor", "--timeout", "0.3")
    assert r.returncode == 0, r.stderr
    first = r.stdout.splitlines()[0]
    assert first.startswith("listening for PCI add, remove, bind, unbind events (")
    assert first.endswith("); Ctrl-C stops")
