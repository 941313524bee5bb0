"""A function replaced under the frontend: a new backend on the file, or a device restart
nothing announced (a PF-style endpoint has no mailbox).

Nothing tells the frontend that a backend died: its watch reads the control page's
generation (backend epoch, device restarts) on an empty poll, at most once per interval,
or when asked (``check_events``). A new generation: what the device wrote is taken, the
rest is lost, the endpoint is reopened (page and features read again, handshake), the
rings programmed and only then the banks linked under the new epoch.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from qathw.emulated import XenbusState
from qathw.errors import DeviceRestartError, EndpointChangedError
from qathw.pci_regs import PCI_COMMAND_MASTER
from qathw.transport.mailbox import PfEvent
from qathw.transport.ring import RingPair, RingPairEvent
from qathw.transport.watch import WatchState
from tests.frontend_life.stepped import links, page, poke, poke_features, replace_backend, stepped
from tests.transport.emu import Rig, null_requests


def _listen(pair: RingPair) -> list[tuple[PfEvent, int]]:
    heard: list[tuple[PfEvent, int]] = []
    pair.add_listener(lambda e: heard.append((e.event, e.lost)))
    return heard


def _state(rig: Rig) -> WatchState:
    """The watch's state, read afresh (a call: type checkers do not pin it)."""
    return rig.endpoint.watch.state


def _answered(rig: Rig, pair: RingPair, cookies: list[int]) -> list[int]:
    pair.submit(null_requests(cookies, pair.request_size))
    rig.step()
    return [int(x) for x in pair.poll()["opaque_data"]]


def test_a_new_backend_is_found_on_an_empty_poll_and_the_bank_relinked(tmp_path: Path) -> None:
    rig = stepped(tmp_path)
    try:
        pair = rig.endpoint.ring_pair(1, slots=32)
        heard = _listen(pair)
        pair.submit(null_requests(range(3)))
        rig.step()  # answered: these are real
        pair.submit(null_requests(range(3, 8)))  # never taken by the old backend
        old = page(rig).backend_epoch
        replace_backend(rig)
        new = page(rig).backend_epoch
        assert new != old and links(rig)[1][0] == old  # not serviced by the new one yet
        got = pair.poll()  # the responses that were written come first
        assert [int(x) for x in got["opaque_data"]] == [0, 1, 2]
        assert pair.poll().shape == (0,)  # empty: the look finds the new backend
        assert heard == [(PfEvent.RESTARTING, 5), (PfEvent.RESTARTED, 0)]
        info = page(rig)
        assert info.frontend_epoch == new and info.frontend_state is XenbusState.CONNECTED
        assert links(rig)[1][0] == new
        rig.step()
        assert page(rig).backend_state is XenbusState.CONNECTED
        assert pair.poll().shape == (0,)  # the lost requests are not run by the new one
        assert _answered(rig, pair, [40, 41]) == [40, 41]
    finally:
        rig.close()


def test_check_events_finds_a_new_backend_too(tmp_path: Path) -> None:
    rig = stepped(tmp_path, "c6xxvf", size=1 << 20)  # no mailbox: the page is all there is
    try:
        pair = rig.endpoint.ring_pair(0, slots=16)
        heard = _listen(pair)
        pair.submit(null_requests([1, 2], pair.request_size))
        replace_backend(rig)
        assert rig.endpoint.check_events() == [PfEvent.RESTARTED]
        assert heard == [(PfEvent.RESTARTING, 2), (PfEvent.RESTARTED, 0)]
        assert _answered(rig, pair, [3]) == [3]
    finally:
        rig.close()


def test_a_backend_that_has_not_published_yet_is_waited_for(tmp_path: Path) -> None:
    rig = stepped(tmp_path)
    try:
        pair = rig.endpoint.ring_pair(1, slots=16)
        features = page(rig).features
        replace_backend(rig)
        poke(rig, "backend_state", XenbusState.INITIALISING)  # caught in the middle of its start
        assert pair.poll().shape == (0,)
        assert _state(rig) is WatchState.GONE
        with pytest.raises(DeviceRestartError) as info:
            pair.submit(null_requests([1]))
        assert info.value.retryable  # nothing was sent
        poke(rig, "backend_state", XenbusState.INIT_WAIT)
        assert pair.poll().shape == (0,)
        assert _state(rig) is WatchState.RUNNING
        assert page(rig).features == features
        assert _answered(rig, pair, [9]) == [9]
    finally:
        rig.close()


def test_an_endpoint_that_came_back_serving_something_else_fails_every_pair(
    tmp_path: Path,
) -> None:
    rig = stepped(tmp_path)
    try:
        pairs = [rig.endpoint.ring_pair(b, slots=16) for b in (1, 3)]
        replace_backend(rig)
        poke_features(rig, ring_service_map=0x0492)  # dc everywhere now
        rig.endpoint.check_events()
        assert rig.endpoint.watch.state is WatchState.CHANGED
        for pair in pairs:
            with pytest.raises(EndpointChangedError) as info:
                pair.submit(null_requests([1]))
            assert "ring-to-service map 0x0492" in str(info.value)
            assert "open the instances again" in str(info.value.hint)
        with pytest.raises(EndpointChangedError):
            rig.endpoint.ring_pair(2, slots=16).submit(null_requests([1]))
    finally:
        rig.close()


def test_a_pf_restart_is_seen_through_the_restart_count(tmp_path: Path) -> None:
    # A PF-style endpoint has no mailbox to announce its restart, and its registers never
    # read all-ones: the device counts the restart in the page, and it is a new function
    # (Bus Master off), which the frontend reopens as it reopens a VF.
    rig = stepped(tmp_path, "4xxx", size=8 << 20)
    try:
        pair = rig.endpoint.ring_pair(1, slots=16)
        heard = _listen(pair)
        assert _answered(rig, pair, [1]) == [1]
        pair.submit(null_requests([2, 3]))
        resets = page(rig).device_resets
        rig.device.inject("restart")
        assert page(rig).device_resets == resets + 1
        assert pair.poll().shape == (0,)  # the look: lost, reopened, reprogrammed
        assert heard == [(PfEvent.RESTARTING, 2), (PfEvent.RESTARTED, 0)]
        assert rig.endpoint.watch.reopened == 1
        assert page(rig).windows  # still the same file
        assert rig.device.file.control is not None
        assert rig.device.file.control.pci_command & PCI_COMMAND_MASTER
        assert _answered(rig, pair, [4, 5]) == [4, 5]
    finally:
        rig.close()


def test_a_vf_restart_is_reopened_once_not_again_for_its_count(tmp_path: Path) -> None:
    rig = stepped(tmp_path)
    try:
        pair = rig.endpoint.ring_pair(1, slots=16)
        heard: list[RingPairEvent] = []
        pair.add_listener(heard.append)
        rig.device.inject("restart")
        for _ in range(6):
            rig.step()
            rig.advance(0.5)
            pair.poll()
        assert [e.event for e in heard] == [PfEvent.RESTARTING, PfEvent.RESTARTED]
        assert rig.endpoint.watch.reopened == 1
        assert _answered(rig, pair, [6]) == [6]
    finally:
        rig.close()


class _Silent:
    """A backend that does not step (yet): the mailbox gets no answer."""

    def step(self) -> int:
        return 0


def test_a_reopen_whose_handshake_failed_is_tried_again(tmp_path: Path) -> None:
    rig = stepped(tmp_path)
    try:
        pair = rig.endpoint.ring_pair(1, slots=16)
        new = replace_backend(rig)
        assert rig.endpoint.mailbox is not None
        rig.endpoint.mailbox.timeout = 0.01
        rig.device = _Silent()  # type: ignore[assignment]
        rig.endpoint.check_events()  # found, but the PF agent does not answer yet
        assert _state(rig) is WatchState.GONE
        rig.device = new
        rig.endpoint.check_events()
        assert _state(rig) is WatchState.RUNNING
        assert links(rig)[1][0] == page(rig).backend_epoch
        assert _answered(rig, pair, [2]) == [2]
    finally:
        rig.close()
