"""What a request that got no answer in time is told: the hint follows what the endpoint
can see of its backend (its heartbeat, a suspend), and never asks whether a backend that
runs is running. Real processes: ``python -m fakedev serve``, killed or suspended.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fakedev.suspend import cancel_suspend, request_suspend
from qathw.errors import RequestTimeoutError
from qathw.service.instance import Instances
from tests.frontend_life.backends import BDF, SERVICES, Served, build_host, instances
from tests.frontend_life.streams import IV, KEY
from tests.service import rig

GENERIC = "is the device (its backend process) running?"


@pytest.fixture
def served() -> Iterator[tuple[rig.Host, list[Served], Instances]]:
    host = build_host("4xxxvf", 16 << 20)
    backends = [Served(host.files[BDF], SERVICES["4xxxvf"])]
    try:
        with instances(host, timeout=0.3) as insts:
            yield host, backends, insts
    finally:
        for backend in backends:
            backend.stop()
        rig.remove(host)


def test_a_suspended_endpoint_says_so_not_that_the_backend_may_be_down(
    served: tuple[rig.Host, list[Served], Instances],
) -> None:
    host, _, insts = served
    cy = insts.cy[0]
    s = cy.cipher("aes-256-ctr", KEY)
    request_suspend(host.files[BDF], timeout=0)
    insts.endpoints[BDF].check_events()  # the frontend has seen it
    with pytest.raises(RequestTimeoutError) as info:
        s.encrypt(b"q" * 64, IV)  # waits for room that the suspend withholds
    hint = str(info.value.hint)
    assert "suspended" in hint and "fakedev resume" in hint
    assert GENERIC not in hint
    cancel_suspend(host.files[BDF])
    assert s.encrypt(b"r" * 64, IV)


def test_a_backend_that_is_gone_is_named_as_the_likely_cause(
    served: tuple[rig.Host, list[Served], Instances],
) -> None:
    host, backends, insts = served
    cy = insts.cy[0]
    s = cy.cipher("aes-256-ctr", KEY)
    backends[0].kill()
    with pytest.raises(RequestTimeoutError) as info:
        s.encrypt(b"q" * 64, IV)
    assert "heartbeat stands still" in str(info.value.hint)
    assert cy.in_flight == 1  # it stays in flight ...
    backends.append(Served(host.files[BDF], SERVICES["4xxxvf"]))
    # ... and is replayed (staged) once a backend takes the file
    cy.channel.wait_until(lambda: not cy.in_flight, 10.0)
    assert cy.channel.replayed == 1
