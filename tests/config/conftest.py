"""Fixtures of the configuration tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from demo.seed import write_seed_configs


@pytest.fixture
def seed_files(tmp_path: Path) -> list[str]:
    """The seed's two endpoint files, 4xxx_dev0.conf and 4xxx_dev1.conf."""
    return [str(p) for p in write_seed_configs(tmp_path)]
