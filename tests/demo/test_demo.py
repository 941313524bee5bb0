"""``make demo``: the seed scenario shown to a person, in a few seconds, in 80 columns."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_demo_shows_the_seed_scenario_and_succeeds() -> None:
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "demo"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    took = time.monotonic() - start
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "2. Expansion: 9 internal sections" in out
    assert "  IPSec_INT_0     0:0/1 0:2/3 0:4/5 0:6/7 1:0/1 1:2/3 1:4/5 1:6/7\n" in out
    assert "IPSec  IPSec_INT_0     8 (4 on dev0, 4 on dev1)" in out
    assert "user_start('SSL') -> qathw: all 8 internal sections of [SSL] are" in out
    assert "-> SSL_DEV0_INT_1 (" in out
    assert max(len(line) for line in out.splitlines()) <= 80
    assert took < 20
