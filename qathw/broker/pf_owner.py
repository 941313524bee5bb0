"""The section broker's side of a lent VF's PF/VF mailbox: one speaker per VF.

A VF has one mailbox (docs/hardware.md#pfvf-mailbox); holders of one VF that each ran
the handshake collided on it (lost block responses, CRC mismatches), and a PF
notification is acknowledged by whoever reads it first. So the broker speaks for the VF,
as DPDK's primary process does for its secondaries (``drivers/common/qat/qat_device.c``
``qat_pci_device_allocate``: secondaries attach to the primary's device data): on the first
lend it runs the handshake once (version, capabilities, ring-to-service map, INIT) with
qathw's own :class:`~qathw.transport.mailbox.Mailbox`, lends the results with the fds,
polls PF2VM from its loop, relays each notification to every lease of the endpoint, and
answers RESTARTING with RESTARTING_COMPLETE once every such lease has said it quiesced —
or at :data:`RESTART_WAIT`, before the PF's own limit (Linux waits 100 x 100 ms,
``adf_pf2vf_wait_for_restarting_complete``) — so the PF sees one VF. When the function
comes back after a restart the broker runs the handshake again.
"""

from __future__ import annotations

import contextlib
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from qathw import emulated
from qathw.errors import MailboxError
from qathw.mmio import Mmio
from qathw.transport import pfvf
from qathw.transport.csr import CsrLayout, layout_for
from qathw.transport.mailbox import ALL_ONES, Mailbox, PfEvent

POLL_INTERVAL = 0.02  # seconds between looks at PF2VM: a daemon's pace, not the data path
RESTART_WAIT = 5.0  # seconds the holders get to quiesce; below the PF's 10 s
# After RESTARTING_COMPLETE the PF removes the function at once (Linux: adf_disable_sriov);
# one still there this long later was not removed, and is spoken to again.
LEAVE_WAIT = 1.0
_SHUTDOWN_TIMEOUT = 0.1  # SHUTDOWN is a courtesy at exit


class _Closeable(Protocol):
    def close(self) -> None: ...


@dataclass
class MailboxWindow:
    """A VF's PMISC BAR as the broker mapped it.

    Attributes:
        pmisc: the PMISC window (PF2VM, VM2PF).
        layout: the VF's generation layout.
        keep: what must stay open while ``pmisc`` is used (the mapping's owner).
    """

    pmisc: Mmio
    layout: CsrLayout
    keep: _Closeable

    def close(self) -> None:
        """Unmap the window."""
        self.keep.close()


def emulated_window(bar: Mmio, keep: _Closeable) -> MailboxWindow | None:
    """The PMISC window of an emulated endpoint whose whole file is ``bar``.

    Args:
        bar: the mapped BAR2 of an ivshmem function (or the endpoint file).
        keep: closed with the window (the owner of ``bar``'s mapping).

    Returns:
        The window of a VF endpoint with a PF/VF mailbox; ``None`` (``keep`` closed) for a
        PF-style endpoint, which has none.

    Raises:
        DeviceError: not an emulated endpoint (``keep`` closed).
    """
    try:
        with bar.view(0, emulated.CONTROL_PAGE_SIZE) as page:
            info = emulated.read_control(page, mapped_size=bar.size)
        layout = layout_for(info.kind.generation)
        if not info.kind.is_vf or layout.vintmsk_pf2vm is None:
            keep.close()
            return None
        win = info.windows
        pmisc = bar.window(win.pmisc_offset, win.pmisc_size, name=f"{bar.name} PMISC")
    except BaseException:
        keep.close()
        raise
    return MailboxWindow(pmisc, layout, keep)


class PfOwner:
    """The broker's speaker on one VF's mailbox.

    Args:
        bdf: the function, for messages.
        window: its PMISC BAR (owned: closed by :meth:`close`).
        timeout: seconds a mailbox exchange may wait.
        clock: monotonic clock.
        restart_wait: seconds to wait for the holders' quiesce acknowledgements.
    """

    def __init__(
        self,
        bdf: str,
        window: MailboxWindow,
        *,
        timeout: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        restart_wait: float = RESTART_WAIT,
    ) -> None:
        self.bdf = bdf
        self.window = window
        self.mailbox = Mailbox(
            window.pmisc, window.layout, timeout=timeout, answer_restarting=False
        )
        self._events: list[PfEvent] = []
        self.mailbox.subscribe(self._events.append)
        self.facts: dict[str, Any] | None = None
        self._clock = clock
        self._restart_wait = restart_wait
        self._seq = 0
        self._restart_seq: int | None = None
        self._waiting: set[int] = set()
        self._deadline = 0.0
        self.away = False  # restarting: handshake again when the function is back
        self._left = False  # the function was seen gone (all-ones) since
        self._away_since = 0.0
        self.handshakes = 0
        self.next_poll = 0.0

    def handshake(self) -> dict[str, Any]:
        """Version, capabilities, ring-to-service map, INIT — once for every holder.

        Returns:
            The lend reply's ``pf`` record: ``version``, ``capabilities``,
            ``ring_service_map`` (``None`` where the PF's version has no such block).

        Raises:
            MailboxError: the PF does not answer, refuses this VF, or a block is bad.
        """
        mb = self.mailbox
        version = mb.negotiate()
        caps = mb.capabilities() if version >= pfvf.COMPAT_CAPABILITIES else None
        svc_map = None
        if version >= pfvf.COMPAT_RING_TO_SVC_MAP:
            blob = mb.read_block(pfvf.BlockType.RING_SVC_MAP)
            if len(blob) < 4:
                raise MailboxError(f"ring-to-service map block is {len(blob)} bytes, need 4")
            (svc_map,) = struct.unpack_from("<H", blob, 2)
        mb.init()
        self.handshakes += 1
        self.facts = {"version": version, "capabilities": caps, "ring_service_map": svc_map}
        return self.facts

    def poll(self, leases: set[int]) -> list[tuple[int, str]]:
        """Take PF notifications; say which to relay; finish a restart that is due.

        Args:
            leases: the leases holding this endpoint now (they must quiesce on
                RESTARTING before the broker answers it).

        Returns:
            ``(sequence number, event name)`` for each notification to relay, in order.
        """
        self.next_poll = self._clock() + POLL_INTERVAL
        if self.away:
            self._try_return()
            return []
        self.mailbox.poll()
        out: list[tuple[int, str]] = []
        for event in self._events:
            self._seq += 1
            out.append((self._seq, event.value))
            if event is PfEvent.RESTARTED:
                self._leave(left=True)  # a new function, which kept our INIT: speak again
            if event is PfEvent.RESTARTING:
                self._restart_seq = self._seq
                self._waiting = set(leases)
                self._deadline = self._clock() + self._restart_wait
        self._events.clear()
        if self._restart_seq is not None and (not self._waiting or self._clock() >= self._deadline):
            self._complete()
        if self.mailbox.gone:
            self._leave(left=True)  # removed without (our seeing) RESTARTING
        return out

    def acked(self, lease: int, seq: int) -> None:
        """Lease ``lease`` has quiesced after RESTARTING number ``seq``."""
        if seq == self._restart_seq:
            self._waiting.discard(lease)
            if not self._waiting:
                self._complete()  # the last holder quiesced: the PF need not wait longer

    def forget(self, lease: int) -> None:
        """Lease ``lease`` ended: nobody waits for it any more."""
        self._waiting.discard(lease)
        if self._restart_seq is not None and not self._waiting:
            self._complete()

    @property
    def restart_pending(self) -> bool:
        """Whether a RESTARTING waits for holders' acknowledgements."""
        return self._restart_seq is not None

    def _complete(self) -> None:
        self._restart_seq = None
        self._waiting.clear()
        self.mailbox.complete_restarting()
        self._leave(left=False)

    def _leave(self, *, left: bool) -> None:
        self.away = True
        self._left = left
        self._away_since = self._clock()

    def _try_return(self) -> None:
        # A removed function reads all-ones; the one that comes back has registers at 0.
        if self.window.pmisc.read32(self.window.layout.pf2vm) == ALL_ONES:
            self._left = True
            return
        if not self._left and self._clock() < self._away_since + LEAVE_WAIT:
            return  # not removed yet
        self.mailbox.reset()
        try:
            self.handshake()
        except MailboxError:
            return  # the PF is not ready yet: look again on the next tick
        self.away = False

    def close(self) -> None:
        """SHUTDOWN (a courtesy) and unmap."""
        mb = self.mailbox
        if mb.initialised and not self.away:
            mb.timeout = min(mb.timeout, _SHUTDOWN_TIMEOUT)
            with contextlib.suppress(MailboxError):
                mb.shutdown()
        self.window.close()
