"""A configuration directory with the seed's two endpoints, and a private runtime dir."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from demo.seed import write_seed_configs
from qathw import sections
from qathw.paths import ENV_CONFIG_DIR, ENV_RUNTIME_DIR


@pytest.fixture
def seed_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """``$QATHW_CONFIG_DIR`` with 4xxx_dev0/1.conf, ``$QATHW_RUNTIME_DIR`` empty."""
    config = tmp_path / "etc"
    write_seed_configs(config)
    monkeypatch.setenv(ENV_CONFIG_DIR, str(config))
    monkeypatch.setenv(ENV_RUNTIME_DIR, str(tmp_path / "run"))
    yield config
    held = sections.current()
    if held is not None:  # a failed test must not leave this process holding a section
        held.stop()
