"""Fixtures: device memory with an allocator, and fresh engine handlers."""

from __future__ import annotations

import pytest

from fakedev.engine import CompHandler, LaHandler
from tests.engine.arena import Arena


@pytest.fixture
def arena() -> Arena:
    return Arena()


@pytest.fixture
def la() -> LaHandler:
    return LaHandler()


@pytest.fixture
def comp() -> CompHandler:
    return CompHandler()
