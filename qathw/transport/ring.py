"""Ring pairs: a request ring and its response ring, programmed, fed and drained.

A :class:`RingPair` owns the DMA memory of both rings and drives their CSRs through a
:class:`~qathw.transport.bank.Bank`. The data path is built for batches:

* :meth:`RingPair.submit` takes a batch (bytes, or a numpy array of requests — e.g. a
  structured array of ``icp_qat_fw_la_bulk_req``), copies it into the ring with one slice
  copy (two at the wrap) and writes the tail once: one doorbell per batch.
* :meth:`RingPair.poll` finds the responses by the empty signature (the first dword of a
  free slot is 0x7F7F7F7F), copies them out as one array, re-stamps the slots, and
  acknowledges lazily: the HEAD CSR is written once enough responses have accumulated
  (DPDK's threshold of 32, or half the ring when that is smaller), which is what keeps
  the device from ever waiting on us (see ``head_write_threshold``).

At most slots - 1 requests are in flight (a full ring must not look empty). A batch that
does not fit raises :class:`~qathw.errors.RingFullError` and nothing is sent, or, with
``partial=True``, as much as fits is sent (back-pressure, like DPDK's burst clamp).

No register is read on the data path (docs/hardware.md#ring-csrs): on hardware an MMIO
read is an uncached PCIe round trip, and DPDK and qatlib read none there either. Submit
writes the tail; poll reads ring memory and writes the head. Device events (the PF/VF
mailbox, a function that went away) and ring exceptions (``EXP_STAT``) are looked at out
of band: by :meth:`RingPair.check`, and by any poll when the endpoint's ``watch`` says a
look is due (one clock read per poll call, a look at most once per interval); the ring
exception status only on a poll that found nothing.

The endpoint tells the pair of device events (:meth:`RingPair.device_event`): on
RESTARTING (or the function gone, or replaced by a new backend) it collects the responses
already written, counts the rest of its in-flight requests as lost (they will get no
response) and refuses new work; on RESTARTED (the function back and reopened) it programs
its rings again. Callers hear of both through :meth:`RingPair.add_listener`.

Suspend (:meth:`RingPair.suspend`, told by the endpoint's watch when the host asks): the
pair sends nothing new (:class:`~qathw.errors.DeviceSuspendedError`, back-pressure) while
its polls go on taking the responses of what is in flight; :meth:`RingPair.resume` ends it.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from qathw.dma import DmaBuffer, DmaPool
from qathw.errors import (
    DeviceFatalError,
    DeviceRestartError,
    DeviceSuspendedError,
    QatError,
    RingConfigError,
    RingFullError,
    TransportError,
)
from qathw.fw.common import REQ_DEFAULT_SZ, RING_EMPTY_BYTE, RING_EMPTY_SIG, icp_qat_fw_comn_resp
from qathw.fw.dtypes import numpy_dtype
from qathw.transport import csr
from qathw.transport.bank import Bank
from qathw.transport.csr import RESPONSE_SIZE
from qathw.transport.mailbox import Mailbox, PfEvent

RESPONSE_DTYPE = numpy_dtype(icp_qat_fw_comn_resp)
DEFAULT_SLOTS = 512
MIN_SLOTS = 2


class RingPairState(enum.Enum):
    """Where a ring pair stands."""

    RUNNING = "running"
    SUSPENDED = "suspended"  # the host asked: nothing new is sent; responses still taken
    RESTARTING = "restarting"  # the device is restarting; in-flight requests were lost
    FAILED = "failed"  # the device reported a fatal error
    CLOSED = "closed"


@dataclass(frozen=True)
class RingPairEvent:
    """What a listener hears: the device event, and how many requests it cost.

    Attributes:
        event: RESTARTING, RESTARTED or FATAL_ERROR.
        lost: requests that were in flight and will get no response (RESTARTING and
            FATAL_ERROR); 0 for RESTARTED.
        pair: the ring pair.
    """

    event: PfEvent
    lost: int
    pair: RingPair


def as_request_rows(batch: Any, msg_size: int) -> npt.NDArray[np.uint8]:
    """A batch of requests as an ``(n, msg_size)`` uint8 array, without copying if possible.

    Args:
        batch: ``bytes``/``bytearray``/``memoryview`` (a whole number of requests), or a
            numpy array: structured (one record per request), or uint8 of shape
            ``(n, msg_size)`` or ``(n * msg_size,)``.
        msg_size: bytes per request.

    Raises:
        ValueError: the batch is not a whole number of requests.
    """
    if isinstance(batch, np.ndarray):
        if batch.dtype == np.uint8 and batch.ndim == 2 and batch.shape[1] == msg_size:
            return batch  # already rows (any layout: numpy copies strided rows)
        arr = np.ascontiguousarray(batch).reshape(-1).view(np.uint8)
    elif isinstance(batch, bytes | bytearray | memoryview):
        arr = np.frombuffer(batch, dtype=np.uint8)
    else:
        raise TypeError(f"a batch is bytes or a numpy array, not {type(batch).__name__}")
    if arr.size % msg_size:
        raise ValueError(
            f"a batch of {arr.size} bytes is not a whole number of {msg_size}-byte requests"
        )
    return arr.reshape(-1, msg_size)


class RingPair:
    """A request ring and its response ring on one bank.

    Use :meth:`create`; the constructor expects already allocated memory. A ring pair
    is driven by one thread at a time (as a DPDK queue pair is); give each thread its own.

    Args:
        bank: the bank.
        tx_ring: the request ring number (the response ring follows from the layout).
        tx_buf / rx_buf: ring memory, aligned to its own size.
        slots: messages per ring (the same for both rings).
        request_size: bytes per request (128; 64 on asym banks).
        pool: where the buffers came from (freed on close), or ``None``.
        watch: called by every poll (once per call, never per request); looks for
            device events when a look is due (rate-limited by the endpoint) and returns
            whether it looked, so that a poll that then finds nothing reads its ring
            exception status too.
        head_write_threshold: responses to accumulate before writing the RX HEAD CSR;
            at most ``slots - 1``. Default: 32, or ``slots // 2`` when smaller.
        diagnose: returns the device's own error text, if it keeps one (emulated
            endpoints do); used in the message of a misprogrammed-ring error.
    """

    def __init__(
        self,
        bank: Bank,
        tx_ring: int,
        tx_buf: DmaBuffer,
        rx_buf: DmaBuffer,
        *,
        slots: int,
        request_size: int = REQ_DEFAULT_SZ,
        pool: DmaPool | None = None,
        watch: Callable[[], bool] | None = None,
        head_write_threshold: int | None = None,
        diagnose: Callable[[], str | None] | None = None,
    ) -> None:
        layout = bank.layout
        self.bank = bank
        self.tx_ring = tx_ring
        self.rx_ring = layout.rx_ring_of(tx_ring)
        self.slots = slots
        self.request_size = request_size
        self.tx_bytes = slots * request_size
        self.rx_bytes = slots * RESPONSE_SIZE
        self._tx_code = csr.ring_size_code(self.tx_bytes)
        self._rx_code = csr.ring_size_code(self.rx_bytes)
        if slots < MIN_SLOTS:
            raise RingConfigError(f"a ring pair needs at least {MIN_SLOTS} slots, not {slots}")
        if tx_buf.size < self.tx_bytes or rx_buf.size < self.rx_bytes:
            raise RingConfigError("ring buffers are smaller than the rings")
        default = min(csr.HEAD_WRITE_THRESHOLD, max(1, slots // 2))
        threshold = default if head_write_threshold is None else head_write_threshold
        if not 1 <= threshold <= slots - 1:
            raise RingConfigError(
                f"head_write_threshold {threshold} must be 1..{slots - 1}",
                hint="a larger value could leave the device waiting for an acknowledgement",
            )
        self.head_write_threshold = threshold
        self.capacity = csr.max_in_flight(self.tx_bytes, request_size)
        self._tx_buf = tx_buf
        self._rx_buf = rx_buf
        self._pool = pool
        self._watch = watch
        self._refused: str | None = None  # the device's ring exception, once seen
        self._diagnose = diagnose
        self._listeners: list[Callable[[RingPairEvent], None]] = []
        self._failure: Callable[[], QatError] | None = None  # why FAILED, when not the device
        # Register access on the hot path: offsets and bound methods, computed once.
        mm = bank.mmio
        self._write32 = mm.write32
        self._read32 = mm.read32
        self._tx_tail_off = bank.ring_offset(layout.ring_tail, tx_ring)
        self._rx_head_off = bank.ring_offset(layout.ring_head, self.rx_ring)
        self._exp_off = layout.exp_stat
        self._exp_bits = (1 << tx_ring) | (1 << self.rx_ring)
        self._tx: npt.NDArray[np.uint8] | None = np.frombuffer(
            tx_buf.view, dtype=np.uint8, count=self.tx_bytes
        ).reshape(slots, request_size)
        self._rx: npt.NDArray[np.uint8] | None = np.frombuffer(
            rx_buf.view, dtype=np.uint8, count=self.rx_bytes
        ).reshape(slots, RESPONSE_SIZE)
        # The response ring as bytes and as 32-bit words, for the poll path.
        self._rx_bytes_view: memoryview | None = rx_buf.view[: self.rx_bytes]
        self._rx_words: memoryview | None = self._rx_bytes_view.cast("I")
        self._tail = 0  # next request slot, bytes
        self._head = 0  # next response slot, bytes
        self._csr_head = 0  # RX HEAD as last written
        self.submitted = 0
        self.completed = 0
        self.lost = 0  # requests that got no response because of restarts or a fatal error
        self._drained: list[npt.NDArray[Any]] = []
        self.state = RingPairState.RUNNING

    @classmethod
    def create(
        cls,
        bank: Bank,
        pool: DmaPool,
        *,
        tx_ring: int | None = None,
        slots: int = DEFAULT_SLOTS,
        request_size: int = REQ_DEFAULT_SZ,
        mailbox: Mailbox | None = None,
        watch: Callable[[], bool] | None = None,
        head_write_threshold: int | None = None,
        diagnose: Callable[[], str | None] | None = None,
        reset: bool = True,
    ) -> RingPair:
        """Allocate, program and enable a ring pair.

        Args:
            bank: the bank.
            pool: DMA memory for both rings (each aligned to its own size).
            tx_ring: request ring; the bank's first by default (gen4: ring 0).
            slots: messages per ring; ``slots * request_size`` and ``slots * 32`` must be
                ring sizes the hardware knows (powers of two, 128 bytes to 4 MiB).
            request_size: 128 (sym, dc) or 64 (asym).
            mailbox: for the ring-pair reset done first.
            watch: see the class.
            head_write_threshold: see the class.
            diagnose: see the class.
            reset: ask the PF for a ring-pair reset of the bank before programming (when
                there is a mailbox), as DPDK does at start.

        Raises:
            RingConfigError: a size the hardware does not know.
            DmaPoolExhaustedError: not enough DMA memory.
            MailboxError: the reset was refused or not answered.
        """
        tx = bank.layout.tx_rings[0] if tx_ring is None else tx_ring
        bank.layout.rx_ring_of(tx)  # validates tx
        tx_bytes = slots * request_size
        rx_bytes = slots * RESPONSE_SIZE
        csr.ring_size_code(tx_bytes)
        csr.ring_size_code(rx_bytes)
        tx_buf = pool.alloc(tx_bytes, align=tx_bytes)
        try:
            rx_buf = pool.alloc(rx_bytes, align=rx_bytes)
        except BaseException:
            pool.free(tx_buf)
            raise
        try:
            pair = cls(
                bank,
                tx,
                tx_buf,
                rx_buf,
                slots=slots,
                request_size=request_size,
                pool=pool,
                watch=watch,
                head_write_threshold=head_write_threshold,
                diagnose=diagnose,
            )
        except BaseException:
            pool.free(rx_buf)
            pool.free(tx_buf)
            raise
        try:
            # A bank reset would also clear other pairs of the bank; gen4 has one per bank.
            if reset and mailbox is not None and len(bank.layout.tx_rings) == 1:
                mailbox.reset_ring_pair(bank.number)
            pair.program()
        except BaseException:
            pair.close()
            raise
        return pair

    # --- programming ---------------------------------------------------------------------

    def program(self) -> None:
        """Fill both rings with the empty pattern and program them; enable arbitration.

        The order matters: arbitration off, pointers to 0, memory stamped, then base and
        config, then arbitration on — a device never sees a half-programmed ring. Writing
        TX HEAD and RX TAIL to 0 is harmless on hardware (they are 0 after reset) and tells
        a polling fake that the pair was reset. Requests still in flight are counted in
        :attr:`lost`: a reprogrammed ring forgets them.

        Raises:
            TransportError: the pair is closed.
        """
        if self._tx is None or self._rx is None:
            raise TransportError(f"{self!r} is closed")
        bank, layout = self.bank, self.bank.layout
        bank.arb_disable(self.tx_ring)
        for ring in (self.tx_ring, self.rx_ring):
            bank.write_ring(layout.ring_config, ring, 0)
            bank.write_ring(layout.ring_head, ring, 0)
            bank.write_ring(layout.ring_tail, ring, 0)
        self._tx.fill(RING_EMPTY_BYTE)
        self._rx.fill(RING_EMPTY_BYTE)
        bank.write_ring_base(self.tx_ring, layout.encode_base(self._tx_buf.iova, self._tx_code))
        bank.write_ring_base(self.rx_ring, layout.encode_base(self._rx_buf.iova, self._rx_code))
        bank.write_ring(
            layout.ring_config, self.tx_ring, csr.ring_config(self._tx_code, response=False)
        )
        bank.write_ring(
            layout.ring_config, self.rx_ring, csr.ring_config(self._rx_code, response=True)
        )
        self._tail = self._head = self._csr_head = 0
        self.lost += self.submitted - self.completed
        self.submitted = self.completed = 0
        self._refused = None
        self.state = RingPairState.RUNNING
        bank.arb_enable(self.tx_ring)

    def close(self) -> None:
        """Disable and unprogram the rings, then free their memory. Idempotent."""
        if self.state is RingPairState.CLOSED:
            return
        self.state = RingPairState.CLOSED
        bank, layout = self.bank, self.bank.layout
        if not bank.mmio.closed:
            bank.arb_disable(self.tx_ring)
            for ring in (self.tx_ring, self.rx_ring):
                bank.write_ring(layout.ring_config, ring, 0)
                bank.write_ring_base(ring, 0)
        self._tx = self._rx = None  # our views before the memory goes
        for view in (self._rx_words, self._rx_bytes_view):
            if view is not None:
                view.release()
        self._rx_words = self._rx_bytes_view = None
        self._drained.clear()
        if self._pool is not None:
            for buf in (self._tx_buf, self._rx_buf):
                self._pool.free(buf)

    # --- accounting -----------------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        """Requests submitted whose response has not been polled (nor declared lost)."""
        return self.submitted - self.completed

    @property
    def free_slots(self) -> int:
        """Requests that can be submitted now."""
        return self.capacity - self.in_flight

    def add_listener(self, callback: Callable[[RingPairEvent], None]) -> None:
        """Hear of device restarts and fatal errors (and of the requests they cost)."""
        self._listeners.append(callback)

    # --- the data path ---------------------------------------------------------------------

    def _check_usable(self) -> None:
        if self.state is RingPairState.RUNNING:
            if self._refused is not None:
                self._raise_refused()
            return
        if self.state is RingPairState.SUSPENDED:
            raise DeviceSuspendedError(
                f"{self!r}: the endpoint is suspended by its host; nothing was sent",
                hint="submit with block=True to wait, or again once it resumes",
            )
        if self.state is RingPairState.RESTARTING:
            raise DeviceRestartError(
                f"{self!r}: the device is restarting; nothing was sent",
                hint="requests in flight were lost; submit again after RESTARTED",
                retryable=True,
            )
        if self.state is RingPairState.FAILED:
            raise self.failure()
        raise TransportError(f"{self!r} is closed")

    def failure(self) -> QatError:
        """The error a FAILED pair gives: the device's fatal error, or what :meth:`fail`
        was told (the broker that lent the device ended)."""
        if self._failure is not None:
            return self._failure()
        return DeviceFatalError(
            f"{self!r}: the device reported a fatal error",
            hint="the device needs a reset by its administrator",
        )

    def check(self) -> None:
        """Look at the device now, out of band: its events (through ``watch``), then this
        pair's ring exception status (``EXP_STAT``; any bit of its rings is an exception).

        Raises:
            TransportError: the device reports an exception on this pair's rings.
        """
        if self._watch is not None:
            self._watch()
        self._check_exceptions()

    def _check_exceptions(self) -> None:
        if self._exp_off is None or self.state not in _SENDING:
            return
        value = self._read32(self._exp_off)
        if value == ALL_ONES or not value & self._exp_bits:
            return  # all-ones: the function is gone, which the endpoint's watch handles
        detail = self._diagnose() if self._diagnose is not None else None
        self._refused = detail or f"EXP_STAT {value:#x}"
        self._raise_refused()

    def _raise_refused(self) -> None:
        raise TransportError(
            f"the device refused {self!r}: {self._refused}",
            hint="the ring's CSRs were changed behind qathw's back; close and recreate the pair",
        )

    def submit(self, batch: Any, *, partial: bool = False) -> int:
        """Put a batch of requests on the request ring: one copy, one tail write.

        Args:
            batch: the requests; see :func:`as_request_rows`.
            partial: when the ring cannot take the whole batch, send as many as fit
                (possibly 0) instead of raising.

        Returns:
            How many requests were sent (the first ones of the batch).

        Raises:
            RingFullError: the batch does not fit and ``partial`` is false; nothing sent.
            DeviceRestartError / DeviceFatalError: the device is restarting / failed.
            TransportError: the device reported an exception on the pair, or it is closed.
            ValueError / TypeError: the batch is not whole requests.
        """
        self._check_usable()
        rows = as_request_rows(batch, self.request_size)
        n = int(rows.shape[0])
        free = self.capacity - (self.submitted - self.completed)
        if n > free:
            if not partial:
                raise RingFullError(
                    f"{self!r}: {n} requests do not fit, {free} of {self.capacity} slots free",
                    hint="poll responses first, or submit with partial=True",
                )
            n = free
        if n == 0:
            return 0
        tx = self._tx
        assert tx is not None
        t = self._tail // self.request_size
        first = min(n, self.slots - t)
        tx[t : t + first] = rows[:first]
        if first < n:
            tx[: n - first] = rows[first:n]
        self._tail = (self._tail + n * self.request_size) % self.tx_bytes
        self._write32(self._tx_tail_off, self._tail)  # the doorbell: once per batch
        self.submitted += n
        return n

    def poll(self, max_responses: int | None = None) -> npt.NDArray[Any]:
        """Take the responses the device has written, in request order.

        Args:
            max_responses: at most this many (default: all there are).

        Returns:
            A structured array of :data:`RESPONSE_DTYPE` (a copy), possibly empty.

        Raises:
            DeviceFatalError: the device failed and every response it wrote was taken.
            TransportError: the device reported an exception on the pair.
        """
        if self._drained:
            out = np.concatenate(self._drained)
            self._drained.clear()
            return out
        if self.state is not RingPairState.RUNNING and self.state is not RingPairState.SUSPENDED:
            if self._watch is not None and self.state is not RingPairState.CLOSED:
                before = self.state
                self._watch()  # the device's return is found out of band too
                if self._drained or self.state is not before:
                    return self.poll(max_responses)
            if self.state is RingPairState.FAILED:
                raise self.failure()
            return _NO_RESPONSES
        if self._refused is not None:
            self._raise_refused()
        # Every poll asks whether a look is due (one clock read; a look at most once per
        # interval): a busy pair seldom polls empty, and must still see a suspend request
        # or a new backend in time. The look goes first, so nothing taken here is lost
        # when it finds the function replaced (it takes what the device wrote itself).
        looked = self._watch is not None and self._watch()
        if looked and (self._drained or self.state not in _SENDING):
            return self.poll(max_responses)
        limit = self.in_flight if max_responses is None else min(max_responses, self.in_flight)
        out = self._take(limit) if limit > 0 else _NO_RESPONSES
        if looked and out.shape[0] == 0:
            self._check_exceptions()  # a register read: only when nothing came back
        return out

    def _take(self, limit: int) -> npt.NDArray[Any]:
        words, raw = self._rx_words, self._rx_bytes_view
        assert words is not None and raw is not None
        h = self._head // RESPONSE_SIZE
        n = _count_full(words, h, limit, self.slots)
        if n == 0:
            return _NO_RESPONSES
        start = self._head
        end = start + n * RESPONSE_SIZE
        if end <= self.rx_bytes:
            data = bytearray(raw[start:end])
            raw[start:end] = _EMPTY_SLOTS[: end - start]
        else:
            wrap = end - self.rx_bytes
            data = bytearray(raw[start:]) + raw[:wrap]
            raw[start:] = _EMPTY_SLOTS[: self.rx_bytes - start]
            raw[:wrap] = _EMPTY_SLOTS[:wrap]
        self._head = end % self.rx_bytes
        self.completed += n
        unacked = ((self._head - self._csr_head) % self.rx_bytes) // RESPONSE_SIZE
        if unacked >= self.head_write_threshold:
            self._write32(self._rx_head_off, self._head)
            self._csr_head = self._head
        return np.frombuffer(data, RESPONSE_DTYPE)

    def flush_head(self) -> None:
        """Acknowledge every polled response now (write RX HEAD)."""
        if self._head != self._csr_head and self.state is not RingPairState.CLOSED:
            self._write32(self._rx_head_off, self._head)
            self._csr_head = self._head

    # --- device events -----------------------------------------------------------------------

    def device_event(self, event: PfEvent) -> None:
        """What the endpoint found out of band: RESTARTING (or the function gone),
        RESTARTED (the function back, reopened), FATAL_ERROR."""
        if self.state is RingPairState.CLOSED:
            return
        lost = 0
        if event in (PfEvent.RESTARTING, PfEvent.FATAL_ERROR) and self.state in _SENDING:
            # What the device wrote before it stopped is real; the rest will never come.
            if self.in_flight:
                got = self._take(self.in_flight)
                if got.shape[0]:
                    self._drained.append(got)
            lost = self.in_flight
            self.lost += lost
            self.completed = self.submitted
            self.state = (
                RingPairState.RESTARTING if event is PfEvent.RESTARTING else RingPairState.FAILED
            )
        elif event is PfEvent.RESTARTED and self.state is not RingPairState.RUNNING:
            self.program()  # a new function: the rings must be programmed again
        for callback in list(self._listeners):
            callback(RingPairEvent(event, lost, self))

    def suspend(self) -> None:
        """Send nothing new until :meth:`resume` (the host asked the endpoint to suspend);
        responses to what is in flight are still taken by :meth:`poll`."""
        if self.state is RingPairState.RUNNING:
            self.state = RingPairState.SUSPENDED

    def resume(self) -> None:
        """End a suspend: submissions go to the ring again."""
        if self.state is RingPairState.SUSPENDED:
            self.state = RingPairState.RUNNING

    def fail(self, error: Callable[[], QatError]) -> None:
        """Stop for good because the device can no longer be reached (the section broker
        that lent it ended): every request in flight is lost, and every later call
        raises ``error()``. Touches no register: the BAR may be gone already.

        Listeners hear FATAL_ERROR with the number of requests lost.
        """
        if self.state in (RingPairState.CLOSED, RingPairState.FAILED):
            return
        lost = self.in_flight if self.state in _SENDING else 0
        self.lost += lost
        self.completed = self.submitted
        self._failure = error
        self.state = RingPairState.FAILED
        for callback in list(self._listeners):
            callback(RingPairEvent(PfEvent.FATAL_ERROR, lost, self))

    def __repr__(self) -> str:
        return (
            f"<RingPair bank {self.bank.number} rings {self.tx_ring}/{self.rx_ring}, "
            f"{self.slots} slots, {self.state.value}>"
        )


ALL_ONES = 0xFFFF_FFFF  # what a read of a function that is gone returns (PCIe)
_SENDING = (RingPairState.RUNNING, RingPairState.SUSPENDED)  # programmed, requests may be out
_NO_RESPONSES = np.empty(0, RESPONSE_DTYPE)
_NO_RESPONSES.flags.writeable = False
_WORDS_PER_RESPONSE = RESPONSE_SIZE // 4
_EMPTY_SLOTS = bytes([RING_EMPTY_BYTE]) * (csr.ring_bytes(csr.RING_SIZE_CODE_MAX))


def _count_full(words: memoryview, head: int, limit: int, slots: int) -> int:
    """How many slots from ``head`` (at most ``limit``, wrapping) hold a response.

    The device fills slots in ring order and stores dword 0 of each slot after
    everything else, in order; so the full slots from the head are a prefix, and a
    binary search on dword 0 finds its end in O(log n) word reads.
    """

    def full(i: int) -> bool:
        return bool(words[((head + i) % slots) * _WORDS_PER_RESPONSE] != RING_EMPTY_SIG)

    if limit <= 0 or not full(0):
        return 0
    if full(limit - 1):
        return limit
    lo, hi = 0, limit - 1  # full(lo), not full(hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if full(mid):
            lo = mid
        else:
            hi = mid
    return hi
