"""Test-wide configuration: markers and the skips they imply."""

from __future__ import annotations

import os

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not os.environ.get("QATHW_TEST_BDF"):
        skip_hw = pytest.mark.skip(reason="no real QAT device: set QATHW_TEST_BDF=<bdf> to run")
        for item in items:
            if "hardware" in item.keywords:
                item.add_marker(skip_hw)
