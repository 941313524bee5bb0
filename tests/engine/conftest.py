"""Fixtures: device memory with an allocator, and fresh engine handlers."""

from __future__ import annotations

import pytest

from fakedev.engine import CompHandler, LaHandler
from qathw.ids import Generation
from tests.engine.arena import Arena


@pytest.fixture
def arena() -> Arena:
    return Arena()


@pytest.fixture
def la() -> LaHandler:
    """The LA engine of a gen4 endpoint (the default)."""
    return LaHandler()


@pytest.fixture
def la_gen2() -> LaHandler:
    """The LA engine of a gen2 endpoint: legacy slice only, DES and 3DES."""
    return LaHandler(generation=Generation.GEN2)


@pytest.fixture
def comp() -> CompHandler:
    return CompHandler()
