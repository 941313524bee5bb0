"""``make demo``: the seed scenario shown to a person, in a few seconds, in 80 columns."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run_demo() -> tuple[subprocess.CompletedProcess[str], float, set[str]]:
    before = set(os.listdir("/dev/shm"))
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "demo"], cwd=ROOT, capture_output=True, text=True, timeout=90
    )
    return done, time.monotonic() - start, set(os.listdir("/dev/shm")) - before


def test_demo_shows_the_seed_scenario_with_traffic_and_cleans_up() -> None:
    done, took, left = _run_demo()
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    # the sections story, as before
    assert "2. Expansion: 9 internal sections" in out
    assert "  IPSec_INT_0     0:0/1 0:2/3 0:4/5 0:6/7 1:0/1 1:2/3 1:4/5 1:6/7\n" in out
    assert "IPSec  IPSec_INT_0     8 (4 on dev0, 4 on dev1)" in out
    assert "user_start('SSL') -> qathw: all 8 internal sections of [SSL] are" in out
    assert "-> SSL_DEV0_INT_1 (" in out
    # the endpoints, with their device processes
    assert "qat_dev0 = 0000:00:10.0 (4xxx (emulated), up)" in out
    assert "qat_dev1 = 0000:00:11.0 (4xxx (emulated), up)" in out
    assert "each opened its instances" in out
    # traffic: one line per process, every result verified
    lines = re.findall(
        r"^\s+(\d+)\s+(\S+_INT_\d)\s+(aes-128-cbc|aes-256-gcm)\s+(\d+)\s+(\d+)\s+([\d,]+)\s+(.+)$",
        out.split("8. Traffic")[1],
        re.MULTILINE,
    )
    assert len(lines) == 9
    assert {name for _, name, *_ in lines} == {
        "IPSec_INT_0",
        *(f"SSL_DEV{d}_INT_{i}" for d in (0, 1) for i in range(4)),
    }
    for _, name, alg, inst, ops, _, check in lines:
        assert alg == ("aes-256-gcm" if name.startswith("IPSec") else "aes-128-cbc")
        assert int(inst) == (8 if name.startswith("IPSec") else 1)
        assert int(ops) > 0 and check == "all ok"
    assert re.search(r"total: [\d,]+ requests verified", out)
    assert max(len(line) for line in out.splitlines()) <= 80
    assert took < 30
    assert not left, f"the demo left {left} in /dev/shm"
    device_pids = [int(p) for p in re.findall(r"^  qat\d: .*; pid (\d+)$", out, re.MULTILINE)]
    assert len(device_pids) == 2
    for pid in device_pids:  # the device processes are gone
        assert not Path(f"/proc/{pid}").exists()
