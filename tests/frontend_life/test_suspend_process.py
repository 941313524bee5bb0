"""Suspend between real processes: host tooling (``fakedev.suspend``) asks, a frontend that
polls answers, its submissions wait, and the resume sends them.

The backend is ``python -m fakedev serve``; the host tool runs in a thread of the test, as
it would run beside the application, while the application keeps polling.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from fakedev.suspend import SuspendResult, cancel_suspend, request_suspend
from qathw.errors import DeviceSuspendedError
from qathw.service.instance import Instances
from tests.frontend_life.backends import BDF, SERVICES, Served, build_host, instances
from tests.frontend_life.streams import IV, KEY, ctr
from tests.service import rig


@pytest.fixture
def served() -> Iterator[tuple[rig.Host, Instances]]:
    host = build_host("4xxxvf", 16 << 20)
    backend = Served(host.files[BDF], SERVICES["4xxxvf"])
    try:
        with instances(host) as insts:
            yield host, insts
    finally:
        backend.stop()
        rig.remove(host)


def _ask_in_background(
    host: rig.Host, timeout: float = 5.0
) -> tuple[threading.Thread, list[SuspendResult]]:
    answer: list[SuspendResult] = []
    tool = threading.Thread(
        target=lambda: answer.append(request_suspend(host.files[BDF], timeout=timeout))
    )
    tool.start()
    return tool, answer


def test_a_polling_frontend_acknowledges_once_its_requests_are_back(
    served: tuple[rig.Host, Instances],
) -> None:
    host, insts = served
    cy = insts.cy[0]
    s = cy.cipher("aes-256-ctr", KEY)
    before = [cy.submit(s.encrypt_op(bytes([i]) * 4096, IV)) for i in range(8)]
    tool, answer = _ask_in_background(host)
    while tool.is_alive():
        cy.poll()  # the application goes on polling; its watch answers
    tool.join()
    [result] = answer
    assert result.complete
    assert cy.channel.pair.bank.number in result.acknowledged
    assert [h.result() for h in before] == [ctr(bytes([i]) * 4096) for i in range(8)]
    with pytest.raises(DeviceSuspendedError):
        cy.submit(s.encrypt_op(b"x" * 16, IV), block=False)
    assert cy.in_flight == 0


def test_submissions_wait_through_a_suspend_and_go_on_the_resume(
    served: tuple[rig.Host, Instances],
) -> None:
    host, insts = served
    cy = insts.cy[0]
    s = cy.cipher("aes-256-ctr", KEY)
    tool, answer = _ask_in_background(host)
    while tool.is_alive():
        cy.poll()
    assert answer[0].complete
    resumed = threading.Event()

    def resume() -> None:
        cancel_suspend(host.files[BDF])
        resumed.set()

    timer = threading.Timer(0.2, resume)
    timer.start()
    try:
        assert s.encrypt(b"waited" * 10, IV) == ctr(b"waited" * 10)  # block=True: it waits
        assert resumed.is_set()  # it could not have been answered before the resume
    finally:
        timer.join()


def test_a_frontend_that_does_not_poll_does_not_answer(
    served: tuple[rig.Host, Instances],
) -> None:
    host, insts = served
    result = request_suspend(host.files[BDF], timeout=0.2)  # nobody polls meanwhile
    assert not result.complete
    assert insts.cy[0].channel.pair.bank.number in result.unanswered
    cancel_suspend(host.files[BDF])
