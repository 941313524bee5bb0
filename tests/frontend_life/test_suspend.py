"""Suspend: the host asks (``fakedev suspend``), the frontend stops sending, lets what is in
flight finish, and acknowledges in the links of the banks it holds; it resumes when the
request is withdrawn or the backend changes.

The frontend's side runs when its watch looks (empty polls, ``check_events``): a process
that does not poll never acknowledges, and the host's tool says which banks did not answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fakedev.suspend import cancel_suspend, request_suspend
from qathw.errors import DeviceSuspendedError, RingFullError
from qathw.transport.ring import RingPairState
from tests.frontend_life.stepped import links, replace_backend, stepped
from tests.transport.emu import Rig, null_requests


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = stepped(tmp_path)
    yield r
    r.close()


def _ask(rig: Rig) -> int:
    """Write a suspend request without waiting for the answer (nobody polls meanwhile)."""
    return request_suspend(rig.path, timeout=0).request


def test_a_suspended_pair_refuses_new_work_with_a_retryable_error(rig: Rig) -> None:
    pair = rig.endpoint.ring_pair(1, slots=16)
    _ask(rig)
    rig.endpoint.check_events()
    assert pair.state is RingPairState.SUSPENDED
    with pytest.raises(DeviceSuspendedError) as info:
        pair.submit(null_requests([1]))
    assert isinstance(info.value, RingFullError) and info.value.retryable
    assert pair.in_flight == 0


def test_the_ack_waits_until_what_is_in_flight_has_come_back(rig: Rig) -> None:
    pair = rig.endpoint.ring_pair(1, slots=16)
    pair.submit(null_requests([1, 2, 3]))
    request = _ask(rig)
    rig.endpoint.check_events()
    rig.endpoint.check_events()
    assert links(rig)[1][1] != request  # three requests still out
    rig.step()
    assert [int(x) for x in pair.poll()["opaque_data"]] == [1, 2, 3]  # polls go on
    assert pair.poll().shape == (0,)  # an empty poll looks: drained, acknowledged
    assert links(rig)[1][1] == request
    assert links(rig)[0][1] != request  # a bank it does not hold is not its to answer


def test_the_frontend_acknowledges_a_look_after_it_stopped(rig: Rig) -> None:
    # Not in the look that stopped the pairs: a submission under way in another thread
    # lands before the acknowledgement says nothing more will come.
    rig.endpoint.ring_pair(2, slots=16)
    request = _ask(rig)
    rig.endpoint.check_events()
    assert links(rig)[2][1] != request
    rig.endpoint.check_events()
    assert links(rig)[2][1] == request


def test_withdrawing_the_request_resumes(rig: Rig) -> None:
    pair = rig.endpoint.ring_pair(1, slots=16)
    _ask(rig)
    rig.endpoint.check_events()
    cancel_suspend(rig.path)
    rig.endpoint.check_events()
    assert pair.state is RingPairState.RUNNING
    pair.submit(null_requests([4]))
    rig.step()
    assert [int(x) for x in pair.poll()["opaque_data"]] == [4]


def test_a_new_request_is_acknowledged_anew(rig: Rig) -> None:
    rig.endpoint.ring_pair(1, slots=16)
    first = _ask(rig)
    rig.endpoint.check_events()
    rig.endpoint.check_events()
    second = _ask(rig)
    assert second != first
    rig.endpoint.check_events()
    rig.endpoint.check_events()
    assert links(rig)[1][1] == second


def test_a_new_backend_ends_the_suspend(rig: Rig) -> None:
    # After a migration or a backend switch the new backend cleared the request: the
    # frontend reopens, relinks and sends again.
    pair = rig.endpoint.ring_pair(1, slots=16)
    _ask(rig)
    rig.endpoint.check_events()
    rig.endpoint.check_events()
    replace_backend(rig)
    rig.endpoint.check_events()
    assert pair.state is RingPairState.RUNNING
    pair.submit(null_requests([8]))
    rig.step()
    assert [int(x) for x in pair.poll()["opaque_data"]] == [8]


def test_a_pair_made_while_suspended_is_suspended_too(rig: Rig) -> None:
    rig.endpoint.ring_pair(1, slots=16)
    request = _ask(rig)
    rig.endpoint.check_events()
    rig.endpoint.check_events()
    late = rig.endpoint.ring_pair(3, slots=16)
    assert late.state is RingPairState.SUSPENDED
    rig.endpoint.check_events()
    assert links(rig)[3][1] == request
