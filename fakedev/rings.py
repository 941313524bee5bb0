"""A ring pair as the device sees it: consume requests, write responses, stall when full.

One :class:`DeviceRingPair` per request ring of a bank. Its :meth:`~DeviceRingPair.service`
does, in one call, what the hardware does between two doorbells: every request between
the device's consumer head and the latched tail is read (as one array), dispatched, and
answered in FIFO order on the paired response ring, as far as the response ring has room
by its HEAD CSR. Register semantics are described in :mod:`fakedev.csr`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from fakedev import wire
from fakedev.csr import BankRegs
from fakedev.dispatch import Dispatcher
from fakedev.memory import DeviceMemory
from fakedev.wire import Bytes2D
from qathw.fw.common import ASYM_REQ_SZ, REQ_DEFAULT_SZ
from qathw.transport.csr import RESPONSE_SIZE, RING_SIZE_CODE_MAX, config_size_code, ring_bytes

_RESP_WORDS = RESPONSE_SIZE // 4


class DeviceRingPair:
    """The device side of request ring ``tx`` and response ring ``rx`` of one bank.

    Args:
        csr: the ring-CSR window as 32-bit words.
        regs: the bank's register indices.
        tx / rx: ring numbers in the bank.
        request_size: bytes per request on this bank (128, or 64 for asym); ``None``
            takes it from the ring sizes (a PF, whose banks' services the fake does not
            know: request ring bytes / response ring slots).
        memory: device memory (ring bases must lie inside).
        dispatcher: executes the consumed requests.
        report: records a loud device error (the control page).
    """

    def __init__(
        self,
        csr: memoryview,
        regs: BankRegs,
        tx: int,
        rx: int,
        request_size: int | None,
        memory: DeviceMemory,
        dispatcher: Dispatcher,
        report: Callable[[str], None],
    ) -> None:
        lay = regs.layout
        self._csr = csr
        self._regs = regs
        self.tx, self.rx = tx, rx
        self.tx_bit = 1 << tx
        self.request_size = request_size
        self._memory = memory
        self._dispatch = dispatcher
        self._report = report
        self._i_tx_tail = regs.ring_word(lay.ring_tail, tx)
        self._i_tx_head = regs.ring_word(lay.ring_head, tx)
        self._i_rx_tail = regs.ring_word(lay.ring_tail, rx)
        self._i_rx_head = regs.ring_word(lay.ring_head, rx)
        self._i_key = (
            regs.ring_word(lay.ring_config, tx),
            regs.ring_word(lay.ring_lbase, tx),
            regs.ring_word(lay.ring_ubase, tx),
            regs.ring_word(lay.ring_config, rx),
            regs.ring_word(lay.ring_lbase, rx),
            regs.ring_word(lay.ring_ubase, rx),
        )
        self.fault: str | None = None
        self._reset_state()

    def _reset_state(self) -> None:
        self._key: tuple[int, ...] | None = None
        self._bad_key: tuple[int, ...] | None = None
        self._tx_ring: Bytes2D | None = None
        self._rx_ring: np.ndarray | None = None  # (slots, 8) uint32
        self._tx_bytes_view: memoryview | None = None  # the same memory, for single requests
        self._rx_words: memoryview | None = None
        self._tx_bytes = self._rx_bytes = 0
        self._req = self.request_size or REQ_DEFAULT_SZ
        self._tx_head = self._rx_tail = 0

    def reset(self) -> None:
        """Forget everything (ring-pair reset, device restart); CSRs are cleared by the bank."""
        self._reset_state()
        self.fault = None

    def release(self) -> None:
        """Drop the views of ring memory (before the mapping closes)."""
        self._tx_ring = None
        self._rx_ring = None
        for view in (self._tx_bytes_view, self._rx_words):
            if view is not None:
                view.release()
        self._tx_bytes_view = self._rx_words = None

    # --- status ------------------------------------------------------------------------

    @property
    def configured(self) -> bool:
        return self._key is not None

    @property
    def request_bytes(self) -> int:
        """Bytes per request as the ring is configured now (what each consumed one read)."""
        return self._req

    def empty_bits(self) -> int:
        """This pair's contribution to E_STAT: the bit of each of its rings that is empty."""
        if self._key is None:
            return self.tx_bit | (1 << self.rx)
        csr = self._csr
        bits = 0
        if csr[self._i_tx_tail] == self._tx_head:
            bits |= self.tx_bit
        if csr[self._i_rx_head] == self._rx_tail:
            bits |= 1 << self.rx
        return bits

    # --- configuration -------------------------------------------------------------------

    def _read_key(self) -> tuple[int, ...]:
        csr = self._csr
        a, b, c, d, e, f = self._i_key
        return (csr[a], csr[b], csr[c], csr[d], csr[e], csr[f])

    def _configure(self, key: tuple[int, ...]) -> bool:
        """Validate and latch a new ring configuration; False if it is not usable."""
        self.release()
        self._key = None
        if key == self._bad_key:
            return False
        tx_cfg, tx_lo, tx_hi, rx_cfg, rx_lo, rx_hi = key
        if not (tx_cfg and rx_cfg and (tx_lo or tx_hi) and (rx_lo or rx_hi)):
            return False  # not programmed yet: hardware ignores such a ring, so do we
        problem, geometry = self._check(key)
        if problem is not None or geometry is None:
            where = f"bank {self._regs.bank} ring pair {self.tx}/{self.rx}"
            self._set_fault(key, f"{where}: {problem}")
            return False
        tx_base, tx_size, rx_base, rx_size, req, head, tail = geometry
        self._tx_bytes_view = self._memory.view(tx_base, tx_size)
        rx_view = self._memory.view(rx_base, rx_size)
        self._rx_words = rx_view.cast("I")
        rx_view.release()
        self._tx_ring = np.frombuffer(self._tx_bytes_view, dtype=np.uint8).reshape(-1, req)
        self._rx_ring = np.frombuffer(self._rx_words, dtype=np.uint32).reshape(-1, _RESP_WORDS)
        self._tx_bytes, self._rx_bytes, self._req = tx_size, rx_size, req
        self._tx_head, self._rx_tail = head, tail
        self._key = key
        self._bad_key = None
        self.fault = None
        self._set_exception(False)
        return True

    def _check(
        self, key: tuple[int, ...]
    ) -> tuple[str | None, tuple[int, int, int, int, int, int, int] | None]:
        """``(problem, None)`` or ``(None, (tx_base, tx_size, rx_base, rx_size, req, head,
        tail))`` for a ring configuration."""
        tx_cfg, tx_lo, tx_hi, rx_cfg, rx_lo, rx_hi = key
        lay = self._regs.layout
        spans = []
        for name, cfg, value in (
            ("request", tx_cfg, tx_lo | tx_hi << 32),
            ("response", rx_cfg, rx_lo | rx_hi << 32),
        ):
            code = config_size_code(cfg)
            if code > RING_SIZE_CODE_MAX:
                return f"{name} ring size code {code:#x} out of range", None
            size = ring_bytes(code)
            base, aligned = lay.decode_base(value, code)
            if not aligned:
                return f"{name} ring base {value:#x} not aligned to its size {size:#x}", None
            if not self._memory.contains(base, size):
                return f"{name} ring [{base:#x}+{size:#x}] outside device memory", None
            spans.append((base, size))
        (tx_base, tx_size), (rx_base, rx_size) = spans
        rx_slots = rx_size // RESPONSE_SIZE
        # Each ring has its own size (Linux adf_create_ring sizes them apart); the device
        # takes requests only while the response ring has room, so counts may differ. A
        # PF's bank service is not known here: 64-byte requests when the rings say so
        # (twice the response ring's bytes), else the bulk size.
        req = self.request_size or (
            ASYM_REQ_SZ if tx_size == rx_slots * ASYM_REQ_SZ else REQ_DEFAULT_SZ
        )
        if tx_size // req < 2 or rx_slots < 2:
            return "rings hold fewer than two messages", None
        if tx_base < rx_base + rx_size and rx_base < tx_base + tx_size:
            return "request and response rings overlap", None
        head = self._csr[self._i_tx_head]
        tail = self._csr[self._i_rx_tail]
        if head % req or head >= tx_size or tail % RESPONSE_SIZE or tail >= rx_size:
            return f"ring pointers TX head {head:#x} / RX tail {tail:#x} out of range", None
        return None, (tx_base, tx_size, rx_base, rx_size, req, head, tail)

    def _set_fault(self, key: tuple[int, ...] | None, message: str) -> None:
        self.release()
        self._key = None
        self._bad_key = key
        self.fault = message
        self._set_exception(True)
        self._report(message)

    def _set_exception(self, on: bool) -> None:
        i = self._regs.exp_stat
        if i is None:
            return
        bits = self.tx_bit | (1 << self.rx)
        old = self._csr[i]
        new = (old | bits) if on else (old & ~bits)
        if new != old:
            self._csr[i] = new

    # --- the work ----------------------------------------------------------------------

    def service(self) -> int:
        """Consume what the host has queued, as far as the response ring has room.

        Returns:
            The number of requests consumed (and answered).
        """
        csr = self._csr
        tail = csr[self._i_tx_tail]
        if tail == self._tx_head == csr[self._i_tx_head] and self._key is not None:
            return 0  # nothing new (and TX HEAD as we left it: no reset behind our back)
        key = self._read_key()
        if (
            key != self._key
            or csr[self._i_tx_head] != self._tx_head
            or csr[self._i_rx_tail] != self._rx_tail
        ):
            # New configuration, or the host reset the pair (see fakedev.csr).
            if not self._configure(key):
                return 0
            tail = csr[self._i_tx_tail]
        req = self._req
        if tail % req or tail >= self._tx_bytes:
            self._set_fault(
                key,
                f"bank {self._regs.bank} ring {self.tx}: TX tail {tail:#x} is not a slot of "
                f"a {self._tx_bytes}-byte ring of {req}-byte requests",
            )
            return 0
        rx_head = csr[self._i_rx_head]
        if rx_head % RESPONSE_SIZE or rx_head >= self._rx_bytes:
            self._set_fault(
                key,
                f"bank {self._regs.bank} ring {self.rx}: RX head {rx_head:#x} is not a slot "
                f"of a {self._rx_bytes}-byte response ring",
            )
            return 0
        waiting = ((tail - self._tx_head) % self._tx_bytes) // req
        room = ((rx_head - self._rx_tail - RESPONSE_SIZE) % self._rx_bytes) // RESPONSE_SIZE
        n = min(waiting, room)
        if n == 0:
            return 0  # response ring full: stall, never overwrite an unacknowledged slot
        if n == 1:
            self._service_one()  # one request: plain bytes, no array overhead (latency)
        else:
            self._service_many(n)
        self._tx_head = (self._tx_head + n * req) % self._tx_bytes
        self._rx_tail = (self._rx_tail + n * RESPONSE_SIZE) % self._rx_bytes
        csr[self._i_tx_head] = self._tx_head
        csr[self._i_rx_tail] = self._rx_tail
        return n

    def _service_one(self) -> None:
        tx, words = self._tx_bytes_view, self._rx_words
        assert tx is not None and words is not None
        h = self._tx_head
        request = bytes(tx[h : h + self._req])  # a snapshot, taken at consumption
        response = memoryview(self._dispatch.execute_one(request)).cast("I")
        w = self._rx_tail >> 2
        words[w + 1 : w + _RESP_WORDS] = response[1:]  # bytes 4..31 first ...
        words[w] = response[0] | wire.VALID_IN_FIRST_WORD  # ... then dword 0 (see below)

    def _service_many(self, n: int) -> None:
        assert self._tx_ring is not None
        slots = self._tx_ring.shape[0]
        h = self._tx_head // self._req
        if h + n <= slots:
            requests = self._tx_ring[h : h + n].copy()  # a snapshot, taken at consumption
        else:
            requests = np.concatenate((self._tx_ring[h:], self._tx_ring[: h + n - slots]))
        responses = np.ascontiguousarray(self._dispatch.execute(requests))
        wire.mark_valid(responses)  # a response must never look like an empty slot
        self._write_responses(responses.view(np.uint32))

    def _write_responses(self, words: np.ndarray) -> None:
        """Write ``words`` ((n, 8) uint32) at the response tail, torn-free.

        Bytes 4..31 of *every* slot are stored first, then dword 0 of every slot, in slot
        order. The host treats a slot as a response once its dword 0 differs from the
        empty signature, and x86 makes stores visible in program order; so when any dword
        0 is visible, the bodies of that slot (stored earlier) are too. Each dword 0 is one
        aligned 4-byte store, so it is never seen half-written either.
        """
        ring = self._rx_ring
        assert ring is not None
        slots = ring.shape[0]
        t = self._rx_tail // RESPONSE_SIZE
        n = words.shape[0]
        first = min(n, slots - t)
        ring[t : t + first, 1:] = words[:first, 1:]
        if first < n:
            ring[: n - first, 1:] = words[first:, 1:]
        ring[t : t + first, 0] = words[:first, 0]
        if first < n:
            ring[: n - first, 0] = words[first:, 0]
