"""Run ``python -m fakedev`` as a user would, for tests that check its output and exit code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_fakedev(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``python -m fakedev ARGS`` from the repository root; output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "fakedev", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=timeout,
    )
