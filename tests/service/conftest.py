"""Fixtures: a test host with its devices running, and the instances of a held section."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import qathw
from qathw import sections
from qathw.service.instance import CyInstance, DcInstance, Instances
from tests.service import rig


@pytest.fixture
def host() -> Iterator[rig.Host]:
    """The default host (not running, no environment set)."""
    h = rig.build()
    yield h
    rig.remove(h)


@pytest.fixture
def live(host: rig.Host) -> Iterator[rig.Host]:
    """The default host, its devices running and its environment set."""
    with rig.environment(host), rig.running(host):
        yield host
        held = sections.current()
        if held is not None:  # a failed test must not leave this process holding a section
            held.stop()


@pytest.fixture(scope="module")
def stack() -> Iterator[Instances]:
    """``[SSL]`` started and its instances open, for a whole module (one Cy, one Dc)."""
    h = rig.build()
    try:
        with rig.environment(h), rig.running(h):
            with qathw.user_start("SSL") as held, qathw.open_instances(held) as insts:
                yield insts
    finally:
        rig.remove(h)


@pytest.fixture
def cy(stack: Instances) -> CyInstance:
    return stack.cy[0]


@pytest.fixture
def dc(stack: Instances) -> DcInstance:
    return stack.dc[0]
