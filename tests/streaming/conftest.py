"""Fixtures: a host whose endpoints have 16 MiB of device memory (each instance's pool is
a quarter of it), ``[SSL]`` held, and the streaming API on its instances."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import qathw
from qathw.service.accelerator import Accelerator
from qathw.service.instance import CyInstance, DcInstance
from tests.service import rig

ENDPOINT_SIZE = 16 << 20
SMALL = (
    rig.Endpoint("0000:00:10.0", "4xxxvf", "asym;sym", size=ENDPOINT_SIZE),
    rig.Endpoint("0000:00:11.0", "4xxxvf", "dc", size=ENDPOINT_SIZE),
)


@pytest.fixture(scope="module")
def qat() -> Iterator[Accelerator]:
    """The streaming API on ``[SSL]``'s Cy and Dc instances of 16 MiB endpoints."""
    host = rig.build(SMALL)
    try:
        with rig.environment(host), rig.running(host):
            with qathw.user_start("SSL") as held, qathw.open_instances(held) as insts:
                yield qathw.Accelerator(insts.cy[0], insts.dc[0])
    finally:
        rig.remove(host)


@pytest.fixture
def cy(qat: Accelerator) -> CyInstance:
    assert qat.cy is not None
    return qat.cy


@pytest.fixture
def dc(qat: Accelerator) -> DcInstance:
    assert qat.dc is not None
    return qat.dc
