"""A VF's PF/VF mailbox as a holder of a brokered endpoint sees it: through the broker.

A VF has one mailbox (docs/hardware.md#pfvf-mailbox). When the section broker lends a
VF to several processes, the broker alone speaks on it: it runs the handshake once and
lends its results (:class:`PfFacts`), and it relays each PF notification (RESTARTING,
RESTARTED, FATAL_ERROR) to every holder of the endpoint. A :class:`RelayedMailbox`
stands where a :class:`~qathw.transport.mailbox.Mailbox` stands for the endpoint's
:class:`~qathw.transport.watch.DeviceWatch` — ``subscribe``, ``poll``, ``gone`` — but
touches no register: it takes the relayed notifications from the broker connection and,
after the subscribers have quiesced on RESTARTING, acknowledges it to the broker, which
sends RESTARTING_COMPLETE once every holder has (DPDK has the same split: only the
primary process talks to the PF, secondaries read the device's data from shared memory,
``drivers/common/qat/qat_device.c`` ``qat_pci_device_allocate``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from qathw.transport.mailbox import PfEvent
from qathw.transport.pfvf import PfFacts


class PfEventSource(Protocol):
    """What a :class:`~qathw.transport.watch.DeviceWatch` needs of a mailbox."""

    @property
    def gone(self) -> bool: ...

    def subscribe(self, callback: Callable[[PfEvent], None]) -> None: ...

    def poll(self) -> list[PfEvent]: ...


class RelayedMailbox:
    """PF notifications relayed by the section broker (satisfies :class:`PfEventSource`).

    Args:
        facts: the broker's handshake results.
        fetch: relayed notifications not taken yet, ``(sequence number, event name)``
            in order; never blocks.
        ack: tells the broker this process has quiesced after the RESTARTING numbered
            so.

    Attributes:
        gone: always False: a function that went away is found by the endpoint's probe
            (its registers read all-ones), not by a mailbox read.
    """

    gone = False

    def __init__(
        self,
        facts: PfFacts,
        fetch: Callable[[], list[tuple[int, str]]],
        ack: Callable[[int], None],
    ) -> None:
        self.facts = facts
        self._fetch = fetch
        self._ack = ack
        self._subscribers: list[Callable[[PfEvent], None]] = []

    def subscribe(self, callback: Callable[[PfEvent], None]) -> None:
        """Call ``callback(event)`` for every relayed RESTARTING / RESTARTED / FATAL_ERROR."""
        self._subscribers.append(callback)

    def poll(self) -> list[PfEvent]:
        """Hand the relayed notifications to the subscribers, in order.

        Returns:
            The events handled (empty almost always). Unknown names are skipped: a newer
            broker may relay more.
        """
        handled: list[PfEvent] = []
        for seq, name in self._fetch():
            try:
                event = PfEvent(name)
            except ValueError:
                continue
            handled.append(event)
            for callback in list(self._subscribers):
                callback(event)  # the ring pairs quiesce first ...
            if event is PfEvent.RESTARTING:
                self._ack(seq)  # ... then the broker may count this holder as quiesced
        return handled
