"""The frontend's half of the handshake, and the bank links that gate the backend.

An emulated endpoint's frontend writes the backend's epoch as its own at open (state
Initialised), Connected after its handshake, and links each bank it programs rings on
under that epoch, only once the rings are programmed: the backend services a bank only
while so linked (docs/split-driver.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from qathw.emulated import XenbusState
from tests.frontend_life.stepped import links, page, poke_link, stepped
from tests.transport.emu import Rig, null_requests


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = stepped(tmp_path)
    yield r
    r.close()


def test_open_takes_the_backends_epoch_as_its_own_and_connects(tmp_path: Path) -> None:
    r = stepped(tmp_path)
    try:
        info = page(r)
        assert info.backend_epoch != 0
        assert info.frontend_epoch == info.backend_epoch
        assert info.frontend_state is XenbusState.CONNECTED
        assert info.backend_state is XenbusState.CONNECTED  # it saw the handshake
        assert r.endpoint.features == info.features and info.features.published
    finally:
        r.close()


def test_an_endpoint_without_a_mailbox_connects_too(tmp_path: Path) -> None:
    r = stepped(tmp_path, "c6xxvf", size=1 << 20)
    try:
        assert page(r).frontend_state is XenbusState.CONNECTED
        assert page(r).backend_state is XenbusState.CONNECTED
    finally:
        r.close()


def test_a_ring_pair_links_only_its_own_bank_under_the_epoch(rig: Rig) -> None:
    epoch = page(rig).backend_epoch
    assert all(e == 0 for e, _ in links(rig).values())
    rig.endpoint.ring_pair(2, slots=16)
    assert {b: e for b, (e, _) in links(rig).items()} == {0: 0, 1: 0, 2: epoch, 3: 0}


def test_the_backend_services_a_bank_once_it_is_linked(rig: Rig) -> None:
    pair = rig.endpoint.ring_pair(1, slots=16)
    pair.submit(null_requests([5, 6]))
    rig.step()
    assert [int(x) for x in pair.poll()["opaque_data"]] == [5, 6]


def test_a_bank_whose_link_is_not_the_epoch_is_not_serviced(rig: Rig) -> None:
    # A request on a bank the backend does not hold under its epoch gets nothing, until
    # the frontend's watch relinks the bank.
    pair = rig.endpoint.ring_pair(1, slots=16)
    poke_link(rig, 1, page(rig).backend_epoch ^ 1)
    pair.submit(null_requests([7]))
    rig.step(3)
    assert pair.in_flight == 1 and pair.poll().shape == (0,)


def test_close_unlinks_its_banks_and_says_closed(rig: Rig) -> None:
    rig.endpoint.ring_pair(3, slots=16)
    rig.endpoint.close()
    assert all(e == 0 for e, _ in links(rig).values())
    assert page(rig).frontend_state is XenbusState.CLOSED
