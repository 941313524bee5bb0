"""Out-of-band look at a device: PF notifications, and a function that goes away and back.

Nothing here runs per request. Every poll asks :meth:`DeviceWatch.due` (one clock read),
which looks at most once per interval (an MMIO read is an uncached PCIe round trip on hardware;
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

An emulated endpoint (a split driver: the backend is a fakedev process) has a control
page too (:class:`ControlLink`; plain memory, no register). Each look reads its
*generation* — the backend's epoch and the device's restart count — and its suspend
request:

* a new generation means the function was replaced: a backend crashed and another took
  the file, a planned backend switch, a migration, or a device restart nothing announced
  (a PF-style endpoint has no mailbox). Nothing else tells: a backend killed mid-request
  says nothing, so the look finds it (any poll, at most once per interval, or
  :meth:`DeviceWatch.check`). The pairs are lost as on RESTARTING (responses already
  written are taken, the rest go to the replay rule of ``qathw.service.completion``),
  the endpoint is reopened (control page and features read again, handshake), every
  pair programs its rings, and only then are the banks linked under the new epoch: a
  backend services a bank only under its own epoch, so it never runs what the one before
  left half done, nor a ring the frontend is still programming;
* a suspend request (host tooling, before a migration or a backend switch): the pairs
  send nothing new, the requests in flight finish (polls go on), and once a bank's pairs
  hold nothing in flight its link acknowledges the request — on a look after the one
  that suspended, so that a submission under way in another thread has landed. A process
  that does not poll never acknowledges: the host's tool times out and says which banks
  did not answer. The suspend ends when the request goes back to 0 or the generation
  changes (the new backend cleared it).
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable
from typing import Protocol

from qathw.errors import EndpointChangedError, QatError
from qathw.transport.mailbox import ALL_ONES, PfEvent
from qathw.transport.relay import PfEventSource
from qathw.transport.ring import RingPair, RingPairState

DEFAULT_INTERVAL = 1e-3  # seconds between looks driven by polls


class WatchState(enum.Enum):
    """Where the function stands, as far as this process knows."""

    RUNNING = "running"
    QUIESCED = "quiesced"  # RESTARTING answered; the PF is about to remove the function
    GONE = "gone"  # removed (or replaced): waiting to reopen it
    FAILED = "failed"  # FATAL_ERROR: nothing runs until the PF restarts the device
    UNREACHABLE = "unreachable"  # the broker that lent the function ended: for good
    CHANGED = "changed"  # came back as an endpoint this process cannot use: for good


class ControlLink(Protocol):
    """What the watch reads and writes in an emulated endpoint's control page (the
    endpoint implements it; a real function has none)."""

    def replaced(self) -> bool:
        """Whether the generation (backend epoch, device restarts) differs from the one
        the endpoint was last (re)opened under."""
        ...

    def suspend_request(self) -> int:
        """The host's suspend request: 0, or the sequence number to acknowledge."""
        ...

    def link(self, bank: int) -> None:
        """Link ``bank`` under the known epoch (its rings are programmed)."""
        ...

    def acknowledge(self, bank: int, request: int) -> None:
        """Acknowledge suspend request ``request`` in ``bank``'s link."""
        ...


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
        control: the control page of an emulated endpoint, or ``None``. ``reopen`` then
            also adopts the new generation, and raises
            :class:`~qathw.errors.EndpointChangedError` when the endpoint came back as
            one the pairs cannot go on with (every pair fails with it, for good).
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
        control: ControlLink | None = None,
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
        self._control = control
        self.suspended = 0  # the suspend request the pairs are stopped for (0: none)
        self._acked: set[int] = set()  # banks whose link acknowledged it
        self._changed: EndpointChangedError | None = None
        if mailbox is not None:
            mailbox.subscribe(self._on_event)

    def add(self, pair: RingPair) -> None:
        """Tell ``pair`` of device events from now on."""
        self._pairs.append(pair)
        if self.unreachable is not None:
            pair.fail(self._unreachable_error)
        elif self._changed is not None:
            pair.fail(self._changed_error)
        elif self.suspended:
            pair.suspend()
            self._acked.discard(pair.bank.number)  # it holds this bank too now

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
        if self.state is WatchState.CHANGED:
            return events
        control = self._control
        request: int | None = None  # the suspend request, valid for the known generation
        if control is not None and self.state is not WatchState.GONE:
            request = self._suspend_request(control)
            if request is None:
                self._lose()  # a new backend (or an unannounced restart): what is out is lost
                self.state = WatchState.GONE
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
            if control is not None:
                request = self._suspend_request(control)  # of the new generation
        if request is not None and self.state is WatchState.RUNNING:
            assert control is not None
            self._follow_suspend(control, request)
        return events

    @staticmethod
    def _suspend_request(control: ControlLink) -> int | None:
        """The suspend request, or ``None`` when the generation is no longer the known one.

        The request is read before the generation. A new backend writes its epoch before
        it clears the request (``fakedev.device.Device.connect``), so a 0 read here with
        the generation unchanged after it is the host's own cancel, never a new backend's
        clear half seen: the pairs never resume sending under an epoch that has ended.
        """
        request = control.suspend_request()
        return None if control.replaced() else request

    def _follow_suspend(self, control: ControlLink, request: int) -> None:
        if request != self.suspended:
            self._acked.clear()
            self.suspended = request
            for pair in self._pairs:
                if request:
                    pair.suspend()
                else:
                    pair.resume()
            return  # acknowledged from the next look on
        if not request:
            return
        busy: set[int] = set()
        banks: set[int] = set()
        for pair in self._pairs:
            banks.add(pair.bank.number)
            if pair.state is not RingPairState.CLOSED and pair.in_flight:
                busy.add(pair.bank.number)
        for bank in sorted(banks - busy - self._acked):
            control.acknowledge(bank, request)
            self._acked.add(bank)

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
        if self._control is not None and not self._control.replaced():
            # The device counts a restart once the new function is clean (reset, Bus
            # Master off): until then it is not back, whatever its registers read.
            return False
        try:
            if not self._reopen():
                return False
        except EndpointChangedError as error:
            self._changed = error
            self.state = WatchState.CHANGED
            for pair in list(self._pairs):
                pair.fail(self._changed_error)
            return False
        except QatError:
            return False  # not ready yet (the PF still starting): look again later
        self.state = WatchState.RUNNING
        self.reopened += 1
        self._duplicate_ok = True
        self.suspended = 0  # a new function, or a new backend: no suspend carried over
        self._acked.clear()
        pairs = [p for p in self._pairs if p.state is not RingPairState.CLOSED]
        for pair in pairs:
            if pair.state in (RingPairState.RUNNING, RingPairState.SUSPENDED):
                pair.device_event(PfEvent.RESTARTING)  # made while the function was away
            pair.program()
        if self._control is not None:
            # Only once every ring of a bank is programmed: the backend services a bank
            # from the moment it is linked under its epoch.
            for bank in sorted({p.bank.number for p in pairs}):
                self._control.link(bank)
        for pair in list(self._pairs):
            pair.device_event(PfEvent.RESTARTED)
        return True

    def _changed_error(self) -> QatError:
        error = self._changed
        assert error is not None
        return EndpointChangedError(error.what, hint=error.hint, path=error.path)

    def __repr__(self) -> str:
        return f"<DeviceWatch {self.name}: {self.state.value}>"
