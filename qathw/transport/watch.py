"""Out-of-band look at a device: PF notifications, and a function that goes away and back.

Nothing here runs per request. An empty poll asks :meth:`DeviceWatch.due`, which looks
at most once per interval (an MMIO read is an uncached PCIe round trip on hardware;
docs/hardware.md#submit-and-poll); :meth:`DeviceWatch.check` looks now.

A device restart on a real PF removes its VFs (``pci_disable_sriov``) and brings them back
(docs/hardware.md#device-restart). Seen from a VF:

1. RESTARTING on the mailbox: the ring pairs quiesce (what the device wrote is taken, the
   rest of the requests in flight are lost), the mailbox answers RESTARTING_COMPLETE;
2. the function disappears: its registers read all-ones;
3. it comes back as a new function (PCI command 0, registers at reset values): the watch
   reopens it (the endpoint's ``reopen``: map, Bus Master, version, INIT) and the ring
   pairs program their rings again and hear RESTARTED.

A VF that missed step 1 finds step 2 (all-ones) and loses its requests then; one that
missed both finds the PF's RESTARTED waiting (the PF sends it to a VF whose INIT survived)
or a function whose Bus Master bit is off. qatlib reopens the same way and ignores a
second RESTARTED (``adf_vfio_poll_proxy_event``).
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable

from qathw.errors import QatError
from qathw.transport.mailbox import ALL_ONES, PfEvent
from qathw.transport.relay import PfEventSource
from qathw.transport.ring import RingPair

DEFAULT_INTERVAL = 1e-3  # seconds between looks driven by empty polls


class WatchState(enum.Enum):
    """Where the function stands, as far as this process knows."""

    RUNNING = "running"
    QUIESCED = "quiesced"  # RESTARTING answered; the PF is about to remove the function
    GONE = "gone"  # removed (or replaced): waiting to reopen it
    FAILED = "failed"  # FATAL_ERROR: nothing runs until the PF restarts the device
    UNREACHABLE = "unreachable"  # the broker that lent the function ended: for good


class DeviceWatch:
    """The out-of-band side of one endpoint.

    Args:
        name: how messages name the endpoint.
        mailbox: the PF/VF mailbox, the broker's relay of it (a lent VF:
            :class:`~qathw.transport.relay.RelayedMailbox`), or ``None`` (a PF, gen2).
        probe: reads a register that a live function never returns as all-ones.
        fresh: whether the function is a new one (its Bus Master bit is off).
        reopen: reaches the function again and redoes the handshake; True when done,
            False while it is not back. ``None``: this kind of endpoint cannot be
            reopened in place (its pairs stay restarting).
        interval: seconds between looks driven by :meth:`due`.
        clock: monotonic clock.
        broken: why the path to the function is gone for good (the section broker that
            lent it ended), else ``None``; cheap and non-blocking, asked first on every
            look. Once it answers, every ring pair fails with that error.
    """

    def __init__(
        self,
        name: str,
        *,
        mailbox: PfEventSource | None,
        probe: Callable[[], int],
        fresh: Callable[[], bool],
        reopen: Callable[[], bool] | None,
        interval: float = DEFAULT_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        broken: Callable[[], QatError | None] | None = None,
    ) -> None:
        self.name = name
        self._broken = broken
        self.unreachable: QatError | None = None
        self.state = WatchState.RUNNING
        self.interval = interval
        self.reopened = 0
        self._mailbox = mailbox
        self._probe = probe
        self._fresh = fresh
        self._reopen = reopen
        self._clock = clock
        self._next = 0.0
        self._pairs: list[RingPair] = []
        self._lock = threading.Lock()
        self._duplicate_ok = False  # a RESTARTED may follow a reopen: ignore it once
        if mailbox is not None:
            mailbox.subscribe(self._on_event)

    def add(self, pair: RingPair) -> None:
        """Tell ``pair`` of device events from now on."""
        self._pairs.append(pair)
        if self.unreachable is not None:
            pair.fail(self._unreachable_error)

    def due(self) -> bool:
        """Look now if the interval has passed since the last look; whether it looked."""
        now = self._clock()
        if now < self._next:
            return False
        self._next = now + self.interval
        self.check()
        return True

    def check(self) -> list[PfEvent]:
        """Look now: take PF notifications, find a function gone, reopen one that is back.

        Returns:
            The PF notifications taken (a reopen adds RESTARTED).
        """
        if not self._lock.acquire(blocking=False):
            return []  # another thread is looking
        try:
            return self._check()
        finally:
            self._lock.release()

    def _check(self) -> list[PfEvent]:
        events: list[PfEvent] = []
        if self.state is WatchState.UNREACHABLE or self._lost_path():
            return events  # no register may be touched: the BAR is gone
        mb = self._mailbox
        if self.state in (WatchState.RUNNING, WatchState.FAILED):
            if mb is not None:
                events += mb.poll()
                gone = mb.gone
            else:
                gone = self._probe() == ALL_ONES
            if gone and self.state in (WatchState.RUNNING, WatchState.FAILED):
                self._lose()  # removed without (our seeing) RESTARTING
                self.state = WatchState.GONE
        if self.state is WatchState.QUIESCED and (self._probe() == ALL_ONES or self._fresh()):
            self.state = WatchState.GONE
        if self.state is WatchState.GONE and self._try_reopen():
            events.append(PfEvent.RESTARTED)
        return events

    def check_path(self) -> QatError | None:
        """Whether the path to the function is gone for good (ask ``broken`` now).

        Returns:
            The error every ring pair now fails with, or ``None`` while reachable.
        """
        if self.state is not WatchState.UNREACHABLE:
            with self._lock:
                self._lost_path()
        return None if self.unreachable is None else self._unreachable_error()

    def _lost_path(self) -> bool:
        error = self._broken() if self._broken is not None else None
        if error is None:
            return False
        self.unreachable = error
        self.state = WatchState.UNREACHABLE

        for pair in list(self._pairs):
            pair.fail(self._unreachable_error)
        return True

    def _unreachable_error(self) -> QatError:
        error = self.unreachable
        assert error is not None
        # A fresh instance per raise, so that tracebacks do not pile up on one object.
        return type(error)(error.what, hint=error.hint, errno=error.errno, path=error.path)

    def _on_event(self, event: PfEvent) -> None:
        if event is PfEvent.RESTARTED:
            if self.state is WatchState.RUNNING and self._duplicate_ok:
                self._duplicate_ok = False
                return  # the PF's RESTARTED for a function already reopened
            if self.state is not WatchState.GONE:
                self._lose()  # restarted behind our back: a new function, reopen it
            self.state = WatchState.GONE
            return
        self._duplicate_ok = False
        for pair in list(self._pairs):
            pair.device_event(event)
        if event is PfEvent.RESTARTING:
            self.state = WatchState.QUIESCED
        elif event is PfEvent.FATAL_ERROR:
            self.state = WatchState.FAILED

    def _lose(self) -> None:
        for pair in list(self._pairs):
            pair.device_event(PfEvent.RESTARTING)

    def _try_reopen(self) -> bool:
        if self._reopen is None or self._probe() == ALL_ONES:
            return False
        try:
            if not self._reopen():
                return False
        except QatError:
            return False  # not ready yet (the PF still starting): look again later
        self.state = WatchState.RUNNING
        self.reopened += 1
        self._duplicate_ok = True
        for pair in list(self._pairs):
            pair.device_event(PfEvent.RESTARTED)
        return True

    def __repr__(self) -> str:
        return f"<DeviceWatch {self.name}: {self.state.value}>"
