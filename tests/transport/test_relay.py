"""A VF the section broker lent: the holder's endpoint never touches the mailbox; PF
notifications come from the broker's relay and reach the ring pairs as if read from PF2VM."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fakedev import endpoint_file
from qathw.endpoint import Endpoint, map_bar2
from qathw.transport.mailbox import PfEvent
from qathw.transport.pfvf import Capability, PfFacts, RingService
from qathw.transport.relay import RelayedMailbox
from qathw.transport.watch import WatchState

VM2PF = 0x100C  # a gen4 VF's PMISC (docs/hardware.md#pfvf-mailbox)
FACTS = PfFacts(version=5, capabilities=int(Capability.SYMMETRIC), ring_service_map=0x0492)


class Broker:
    """The holder's view of the broker: relayed events in, acknowledgements out."""

    def __init__(self) -> None:
        self.pending: list[tuple[int, str]] = []
        self.acks: list[int] = []

    def fetch(self) -> list[tuple[int, str]]:
        out, self.pending = self.pending, []
        return out


@pytest.fixture
def lent(tmp_path: Path) -> Iterator[tuple[Endpoint, Broker]]:
    path = tmp_path / "vf.qat"
    endpoint_file.create(path, "4xxxvf", size=4 << 20)
    broker = Broker()
    relay = RelayedMailbox(FACTS, broker.fetch, broker.acks.append)
    ep = Endpoint.from_emulated_bar(map_bar2(path), relay=relay, event_interval=0)
    yield ep, broker
    ep.close()


def test_a_lent_vf_has_no_mailbox_of_its_own(lent: tuple[Endpoint, Broker]) -> None:
    ep, _ = lent
    assert ep.kind.is_vf and ep.mailbox is None


def test_connect_takes_the_brokers_handshake_and_writes_no_mailbox_register(
    lent: tuple[Endpoint, Broker],
) -> None:
    ep, _ = lent
    ep.connect()
    assert ep.services == (RingService.COMP,) * 4  # 0x0492: dc only
    assert ep.capabilities == FACTS.capabilities
    assert ep.pmisc.read32(VM2PF) == 0  # no message was ever sent


def test_a_relayed_restarting_quiesces_then_is_acknowledged(
    lent: tuple[Endpoint, Broker],
) -> None:
    ep, broker = lent
    ep.connect()
    order: list[str] = []
    ep.watch._pairs.append(_Pair(order, broker))  # type: ignore[arg-type]
    broker.pending.append((7, PfEvent.RESTARTING.value))
    assert ep.check_events() == [PfEvent.RESTARTING]
    assert order == ["quiesced with 0 acks"] and broker.acks == [7]
    assert ep.watch.state is WatchState.QUIESCED


class _Pair:
    """Stands for a ring pair: records when it was told, and how many acks were out then."""

    def __init__(self, order: list[str], broker: Broker) -> None:
        self.order, self.broker = order, broker

    def device_event(self, event: PfEvent) -> None:
        self.order.append(f"quiesced with {len(self.broker.acks)} acks")
