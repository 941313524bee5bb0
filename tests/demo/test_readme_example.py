"""The README's application example runs as written, against the demo's two endpoints."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from demo import endpoints
from demo.seed import write_seed_configs
from fakedev import QatHost

ROOT = Path(__file__).resolve().parents[2]


def readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("### As an application", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None, "the README lost its application example"
    return match.group(1)


@pytest.fixture
def demo_host() -> Iterator[tuple[Path, QatHost]]:
    root = Path(f"/dev/shm/qathw-readme-{uuid.uuid4().hex[:8]}")
    root.mkdir()
    write_seed_configs(root / "etc")
    try:
        with endpoints.running(root / "endpoints") as eps:
            yield root, eps
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_the_application_example_runs(demo_host: tuple[Path, QatHost]) -> None:
    root, eps = demo_host
    done = subprocess.run(
        [sys.executable, "-c", readme_example() + "\nprint(len(results), len(ciphertext))\n"],
        cwd=ROOT,
        env={
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "QATHW_CONFIG_DIR": str(root / "etc"),
            "QATHW_RUNTIME_DIR": str(root / "run"),
            "QATHW_SYSFS_ROOT": str(eps.sysfs_root),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["256", "64"]
