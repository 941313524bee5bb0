"""An adversarial campaign against the device model: what a hostile guest can throw at it.

In a QEMU guest the endpoint file is an ivshmem BAR, so the guest may write any byte of
it. This campaign plays that guest, seeded and bounded, against a 4xxx PF, a 4xxx VF and
a c6xx VF stepped by hand (:meth:`fakedev.device.Device.step`):

* hostile requests on a ring pair it programs itself: random bytes, and NULL / LA / COMP
  requests whose pointers go outside the window, into the rings, at self-referencing or
  huge SGLs and bogus content descriptors, with lengths and offsets up to 2^32, and
  random service ids;
* hostile stores: ring-CSR words (bank registers favoured), PF/VF mailbox words (well
  formed VF2PF messages and noise, VF endpoints) and control-page bytes.

And it checks, for every step: no exception leaves the device (*crash*), no fakedev defect
is recorded (``Device.record_defect``), no step takes longer than the hang bound (a
watchdog interrupts it), no device-memory access leaves the window (every
``DeviceMemory.view`` is checked with its own arithmetic) and, for the steps of request
bursts, no byte outside device memory changes but those the device owns. After each burst
it puts the registers back in order and a valid NULL request must complete (*recovery*).

``python -m fakedev.campaign --requests N --stores N`` prints the counts, the longest
step and the peak RSS, and exits 1 on any failure; ``make fuzz`` runs a million of each.
Nothing in qathw imports this module.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import random
import resource
import signal
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import FrameType

import numpy as np

from fakedev import endpoint_file, wire
from fakedev.device import Device, DeviceBank
from fakedev.services import ServiceHandler
from qathw import emulated
from qathw.emulated import qathw_emu_control
from qathw.fw import common, la
from qathw.fw import sgl as sgl_layout
from qathw.fw.common import ServiceType
from qathw.pci_regs import PCI_COMMAND_MASTER
from qathw.transport import csr as csrlib
from qathw.transport import pfvf

DEVICES = ("4xxx", "4xxxvf", "c6xxvf")
SLOTS = 64  # per ring; a burst is at most SLOTS - 1 requests
RESP = csrlib.RESPONSE_SIZE
SCRATCH = 0x10000  # bytes of device memory for SGLs, CDs and buffers
_U32 = (1 << 32) - 1
_U64 = (1 << 64) - 1
_PF_SIZE = 4 << 20  # a 4xxx PF's ring-CSR BAR alone is 1.5 MiB
_VF_SIZE = 1 << 20
# request fields (byte offsets): pointers, then 32-bit lengths and offsets
_PTR_FIELDS = (
    common.REQ_CD_ADDR_OFFSET,
    common.REQ_SRC_ADDR_OFFSET,
    common.REQ_DST_ADDR_OFFSET,
    la.REQ_CIPHER_IV_OFFSET,  # in a COMP request these bytes are other fields: hostile too
    la.REQ_AAD_ADDR_OFFSET,
    la.REQ_AUTH_RES_ADDR_OFFSET,
)
_LEN_FIELDS = (
    common.REQ_SRC_LEN_OFFSET,
    common.REQ_DST_LEN_OFFSET,
    la.REQ_CIPHER_OFF_OFFSET,
    la.REQ_CIPHER_LEN_OFFSET,
    la.REQ_AUTH_OFF_OFFSET,
    la.REQ_AUTH_LEN_OFFSET,
)
_LENGTHS = (0, 1, 15, 16, 17, 4096, 0xFFFF, 1 << 31, _U32 - 15, _U32)


class Hang(BaseException):
    """A step ran past the hang bound (raised by the watchdog inside the step).

    A BaseException, like KeyboardInterrupt: the device's own catch-alls (a handler's
    failure is a defect) must not swallow it.
    """


@dataclass(frozen=True)
class Seed:
    """A valid request and the device memory it refers to (CD, buffers, SGLs, IV).

    The campaign mutates it from there, so the engine's deeper paths (SGL walks, cipher
    and hash regions, deflate) see hostile input, not only its first refusal.
    """

    request: bytes
    memory: tuple[tuple[int, bytes], ...]  # (IOVA, bytes) to place before submitting


# Builds seeds whose memory lies in ``[area, area + SEED_AREA)`` of device memory.
SeedBuilder = Callable[[int], list[Seed]]
SEED_AREA = SCRATCH // 2


@dataclass
class Stats:
    """What a campaign did and found; the last six are failures."""

    requests: int = 0
    register_stores: int = 0
    steps: int = 0
    bursts: int = 0
    device_errors: int = 0  # the device complaining loudly: expected, not a failure
    max_step_seconds: float = 0.0
    crashes: int = 0
    hangs: int = 0
    out_of_window: int = 0
    outside_writes: int = 0
    defects: int = 0
    failed_recoveries: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(
            self.crashes
            or self.hangs
            or self.out_of_window
            or self.outside_writes
            or self.defects
            or self.failed_recoveries
        )

    def note(self, text: str) -> None:
        if len(self.failures) < 20:  # the first few say enough
            self.failures.append(text)

    def add(self, other: Stats) -> None:
        for f in fields(self):
            if f.name == "max_step_seconds":
                self.max_step_seconds = max(self.max_step_seconds, other.max_step_seconds)
            elif f.name == "failures":
                for text in other.failures:
                    self.note(text)
            else:
                setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


class _CountingDeque(deque[str]):
    """The device's defect list, counting every defect (the deque itself is bounded)."""

    def __init__(self, maxlen: int) -> None:
        super().__init__(maxlen=maxlen)
        self.total = 0

    def append(self, item: str) -> None:
        self.total += 1
        super().append(item)


@contextmanager
def _watchdog(seconds: float) -> Iterator[None]:
    """Raise :class:`Hang` in this (main) thread if the block runs past ``seconds``."""

    def fire(signum: int, frame: FrameType | None) -> None:
        raise Hang(f"step ran past {seconds} s")

    old = signal.signal(signal.SIGALRM, fire)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


class Target:
    """One endpoint, its device model, and a hostile driver of one ring pair.

    Args:
        directory: where the endpoint file goes.
        device: its class name (``4xxx``, ``4xxxvf``, ``c6xxvf``).
        rng: the campaign's random source.
        stats: where counts and failures go.
        handlers: the device's service handlers (default: the default registry).
    """

    def __init__(
        self,
        directory: Path,
        device: str,
        rng: random.Random,
        stats: Stats,
        handlers: Mapping[int, ServiceHandler] | None = None,
    ) -> None:
        self.name = device
        self.rng = rng
        self.stats = stats
        self.path = directory / f"{device}.qat"
        size = _VF_SIZE if device.endswith("vf") else _PF_SIZE
        endpoint_file.create(self.path, device, size=size, force=True)
        self.device = Device(self.path, handlers=handlers)
        dev = self.device
        self.defects = _CountingDeque(64)
        dev.defects = self.defects
        self.errors = _CountingDeque(64)
        dev.errors = self.errors
        self.layout = dev.layout
        win = dev.file.info.windows
        self.base, self.end = win.devmem_iova, win.devmem_iova + win.devmem_size
        self._watch_memory()
        self._bank_resets: set[int] = set()
        for i, bank in enumerate(dev.banks):
            self._watch_resets(i, bank)
            # as if a driver had asked for every interrupt: hostile INT_COL_* stores then
            # reach the interrupt path too
            dev.interrupt_eventfd(i)
        # the first pair taking 128-byte requests (or sized by its rings: a PF)
        self.bank, self.pair = next(
            (b, p)
            for b, bank in enumerate(dev.banks)
            for p in bank.pairs
            if p.request_size in (None, 128)
        )
        self.req = 128
        # two places for the rings: after a fault the device ignores the faulted
        # configuration until it changes, so recovery moves the rings each time
        self._ring_sets = [
            (self.base, self.base + 0x4000),
            (self.base + 0x8000, self.base + 0xC000),
        ]
        self._ring_set = 0
        self.scratch = self.base + 0x10000
        self.seed_area = self.scratch + SCRATCH - SEED_AREA  # hostile SGLs go below it
        self.owned = self._owned_offsets()
        self.pristine_control = bytes(dev.file.control_words.cast("B"))
        self.submitted = 0

    # --- watching the device -------------------------------------------------------------

    def _watch_memory(self) -> None:
        memory = self.device.memory
        inner = memory.view
        base, end, stats = self.base, self.end, self.stats

        def view(iova: int, length: int, *, align: int = 1) -> memoryview:
            got = inner(iova, length, align=align)
            # the window's own arithmetic, done again independently
            if not (0 <= length == len(got) and base <= iova and iova + length <= end):
                stats.out_of_window += 1
                stats.note(f"{self.name}: view {iova:#x}+{length:#x} left the window")
            return got

        memory.view = view  # type: ignore[method-assign]

    def _watch_resets(self, index: int, bank: DeviceBank) -> None:
        inner = bank.reset

        def reset(csr: memoryview) -> None:
            self._bank_resets.add(index)  # a bank reset may clear all its registers
            inner(csr)

        bank.reset = reset  # type: ignore[method-assign]

    def _owned_offsets(self) -> np.ndarray:
        """A mask over control page + CSR + PMISC: the bytes the device may write."""
        f = self.device.file
        owned = np.zeros(self._outside_size(), bool)
        for name in ("backend_heartbeat", "device_error_count", "device_error"):
            desc = getattr(qathw_emu_control, name)
            owned[desc.offset : desc.offset + desc.size] = True
        for name in ("defect_count", "defect", "bank_counters", "pf_state", "device_resets"):
            desc = getattr(qathw_emu_control, name)
            owned[desc.offset : desc.offset + desc.size] = True
        csr0 = emulated.CONTROL_PAGE_SIZE
        lay = self.layout
        for bank in self.device.banks:
            base = csr0 + bank.regs.base
            for pair in bank.pairs:
                for off in (lay.ring_head + 4 * pair.tx, lay.ring_tail + 4 * pair.rx):
                    owned[base + off : base + off + 4] = True
            for off in (lay.e_stat, lay.exp_stat or lay.e_stat):
                owned[base + off : base + off + 4] = True
        if self.device.agent is not None:  # the PF side of the mailbox
            pm = csr0 + len(f.csr.cast("B"))
            for off in (lay.pf2vm, lay.vm2pf):
                owned[pm + off : pm + off + 4] = True
        return owned

    def _outside_size(self) -> int:
        f = self.device.file
        return emulated.CONTROL_PAGE_SIZE + f.csr.nbytes + f.pmisc.nbytes

    def _outside(self) -> np.ndarray:
        f = self.device.file
        return np.concatenate(
            [
                np.frombuffer(f.control_words, np.uint8),
                np.frombuffer(f.csr, np.uint8),
                np.frombuffer(f.pmisc, np.uint8),
            ]
        )

    def step(self, *, check_outside: bool, hang_seconds: float) -> None:
        """One device step under the watchdog, the defect counter and (optionally) the
        check that only device-owned bytes outside device memory change."""
        before = self._outside() if check_outside else None
        defects = self.defects.total
        self._bank_resets.clear()
        signal.setitimer(signal.ITIMER_REAL, hang_seconds)
        start = time.perf_counter()
        try:
            self.device.step()
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            took = time.perf_counter() - start
            self.stats.steps += 1
            self.stats.max_step_seconds = max(self.stats.max_step_seconds, took)
        if self.defects.total != defects:
            self.stats.defects += self.defects.total - defects
            self.stats.note(f"{self.name}: defect: {self.defects[-1]}")
        if before is not None:
            changed = np.flatnonzero(before != self._outside())
            allowed = self.owned[changed]
            for b in self._bank_resets:  # a reset bank's registers may all change
                lo = emulated.CONTROL_PAGE_SIZE + self.device.banks[b].regs.base
                allowed |= (changed >= lo) & (changed < lo + self.layout.bank_stride)
            if not allowed.all():
                bad = changed[~allowed]
                self.stats.outside_writes += len(bad)
                self.stats.note(f"{self.name}: device wrote outside bytes {bad[:8].tolist()}")

    # --- a sane driver of one ring pair --------------------------------------------------

    def _word(self, offset: int, ring: int = 0) -> int:
        return self.device.banks[self.bank].regs.ring_word(offset, ring)

    def program(self) -> None:
        """Reset state: registers and mailbox zeroed, control page as created with Bus
        Master Enable, our ring pair programmed afresh (at the other ring place)."""
        f = self.device.file
        f.csr[:] = np.zeros(len(f.csr), np.uint32).data.cast("B").cast("I")
        f.pmisc[:] = np.zeros(len(f.pmisc), np.uint32).data.cast("B").cast("I")
        f.control_words.cast("B")[:] = self.pristine_control
        page = f.control
        assert page is not None
        page.pci_command |= PCI_COMMAND_MASTER
        self._ring_set ^= 1
        self.tx_base, self.rx_base = self._ring_sets[self._ring_set]
        lay, pair = self.layout, self.pair
        tx_code = csrlib.ring_size_code(SLOTS * self.req)
        rx_code = csrlib.ring_size_code(SLOTS * RESP)
        csr = f.csr
        for ring, code, iova, response in (
            (pair.tx, tx_code, self.tx_base, False),
            (pair.rx, rx_code, self.rx_base, True),
        ):
            value = lay.encode_base(iova, code)
            csr[self._word(lay.ring_config, ring)] = csrlib.ring_config(code, response=response)
            csr[self._word(lay.ring_lbase, ring)] = value & _U32
            csr[self._word(lay.ring_ubase, ring)] = value >> 32
        csr[self.device.banks[self.bank].regs.arb_en] = pair.tx_bit
        self.tail = 0
        self.rx_head = 0

    def drained(self) -> bool:
        """The device consumed every request queued (TX HEAD reached the tail)."""
        return self.device.file.csr[self._word(self.layout.ring_head, self.pair.tx)] == self.tail

    def submit(self, rows: list[bytes]) -> None:
        """Queue ``rows`` (at most SLOTS - 1) on the request ring and ring the doorbell."""
        mem, size = self.device.file.devmem, SLOTS * self.req
        at = self.tx_base - self.base
        for row in rows:
            mem[at + self.tail : at + self.tail + self.req] = row
            self.tail = (self.tail + self.req) % size
        self.device.file.csr[self._word(self.layout.ring_tail, self.pair.tx)] = self.tail
        self.submitted += len(rows)

    def acknowledge(self) -> list[bytes]:
        """The responses posted since the last call, then RX HEAD moved past them."""
        csr = self.device.file.csr
        tail = csr[self._word(self.layout.ring_tail, self.pair.rx)] % (SLOTS * RESP)
        mem, at = self.device.file.devmem, self.rx_base - self.base
        got = []
        while self.rx_head != tail:
            got.append(bytes(mem[at + self.rx_head : at + self.rx_head + RESP]))
            self.rx_head = (self.rx_head + RESP) % (SLOTS * RESP)
        csr[self._word(self.layout.ring_head, self.pair.rx)] = self.rx_head
        return got


# --- hostile requests ----------------------------------------------------------------------


def _seeds() -> list[bytes]:
    null = common.null_request(0)
    cipher = bytearray(null)
    cipher[1], cipher[2] = 0, ServiceType.LA
    cipher[6] = 1  # SGL pointers
    hashing = bytearray(cipher)
    hashing[1] = 2
    flat = bytearray(cipher)
    flat[6] = 0
    comp = bytearray(null)
    comp[1], comp[2] = 1, ServiceType.COMP
    return [null, bytes(cipher), bytes(hashing), bytes(flat), bytes(comp), bytes(128)]


_SEEDS = _seeds()


class Hostile:
    """Hostile requests and stores for one target (its addresses, its scratch memory).

    Args:
        target: the endpoint.
        seeds: valid requests to mutate, besides the built-in bare ones.
    """

    def __init__(self, target: Target, seeds: list[Seed] | None = None) -> None:
        self.t = target
        self.rng = target.rng
        self.seeds = seeds or []
        for seed in self.seeds:
            for iova, data in seed.memory:
                lo, hi = target.seed_area, target.seed_area + SEED_AREA
                if not lo <= iova <= iova + len(data) <= hi:
                    raise ValueError(f"seed memory {iova:#x}+{len(data):#x} outside its area")

    def addresses(self) -> list[int]:
        t, s = self.t, self.t.scratch
        return [
            s, s + 0x40, s + 3, s + SCRATCH - 8, s + SCRATCH // 2,  # scratch, odd, its end
            t.tx_base, t.tx_base + 0x40, t.rx_base, t.rx_base + RESP,  # into the rings
            t.end - 64, t.end - 1, t.end, t.base - 64, t.base - 1,  # the window's edges
            0, 1 << 32, 1 << 63, _U64, self.rng.randrange(t.base, t.end),
        ]  # fmt: skip

    def scribble_scratch(self) -> None:
        """Fill scratch with SGLs (self-referencing, huge, overlapping) and noise."""
        rng, t = self.rng, self.t
        mem, at = t.device.file.devmem, t.scratch - t.base
        for seed in self.seeds:  # hostile requests may have overwritten it
            for iova, data in seed.memory:
                mem[iova - t.base : iova - t.base + len(data)] = data
        for _ in range(8):
            off = rng.randrange(0, SCRATCH - SEED_AREA - 64, 8)
            sgl = t.scratch + off
            kind = rng.randrange(5)
            if kind == 0:  # every entry points back at the list itself
                n = rng.choice((1, 2, 3, 1 << 16, _U32))
                entries = [(rng.choice(_LENGTHS), sgl)] * 3
            elif kind == 1:  # overlapping buffers
                n = 3
                entries = [(rng.choice((64, 4096, _U32)), t.scratch + rng.randrange(0, 256))] * 3
            elif kind == 2:  # into the rings, or outside
                n = rng.choice((1, 3))
                entries = [(rng.choice(_LENGTHS), rng.choice(self.addresses()))] * 3
            elif kind == 3:  # a count beyond any limit
                n = rng.choice((1025, 1 << 31, _U32))
                entries = [(16, t.scratch)] * 3
            else:
                raw = rng.randbytes(64)
                mem[at + off : at + off + 64] = raw
                continue
            body = bytearray(sgl_layout.sgl_size(len(entries)))
            sgl_layout.SGL_COUNT_FIELDS.pack_into(
                body, sgl_layout.SGL_NUM_BUFS_OFFSET, n & _U32, rng.getrandbits(32)
            )
            for i, (length, addr) in enumerate(entries):
                sgl_layout.SGL_ENTRY_FIELDS.pack_into(
                    body, sgl_layout.sgl_entry_offset(i), length & _U32, addr & _U64
                )
            mem[at + off : at + off + len(body)] = body

    def request(self) -> bytes:
        rng = self.rng
        if rng.random() < 0.15:
            return rng.randbytes(128)
        valid = bool(self.seeds) and rng.random() < 0.5
        # a valid seed keeps most of its fields, so that it gets past the first check
        p = 0.15 if valid else 0.5
        req = bytearray(rng.choice(self.seeds).request if valid else rng.choice(_SEEDS))
        if valid and rng.random() < 0.2:
            return bytes(req)
        addresses = self.addresses()
        for off in _PTR_FIELDS:
            if rng.random() < p:
                req[off : off + 8] = (rng.choice(addresses) & _U64).to_bytes(8, "little")
        for off in _LEN_FIELDS:
            if rng.random() < p:
                value = rng.choice(_LENGTHS) if rng.random() < 0.8 else rng.getrandbits(32)
                req[off : off + 4] = value.to_bytes(4, "little")
        if rng.random() < 0.1:
            req[2] = rng.getrandbits(8)  # any service id
        for _ in range(rng.randrange(0, 4 if valid else 6)):
            req[rng.randrange(128)] = rng.getrandbits(8)
        return bytes(req)

    def store(self) -> None:
        """One hostile store: a ring-CSR word, a mailbox word or a control-page byte."""
        rng, f, lay = self.rng, self.t.device.file, self.t.layout
        where = rng.random()
        if where < 0.7:
            if rng.random() < 0.8:  # a register of one of the banks
                bank = rng.choice(self.t.device.banks)
                word = bank.regs.first_word + rng.randrange(bank.regs.words)
                if rng.random() < 0.5:  # a ring register of our pair's bank
                    ring = rng.randrange(lay.rings_per_bank)
                    offset = rng.choice(
                        (lay.ring_config, lay.ring_lbase, lay.ring_ubase, lay.ring_head,
                         lay.ring_tail, lay.ring_srv_arb_en, lay.int_col_en, lay.int_col_ctl)
                    )  # fmt: skip
                    word = self.t.device.banks[self.t.bank].regs.ring_word(offset, ring)
                    if offset == lay.ring_srv_arb_en:
                        word = self.t.device.banks[self.t.bank].regs.arb_en
            else:
                word = rng.randrange(len(f.csr))
            f.csr[word] = self._value()
        elif where < 0.85:
            if self.t.device.agent is not None and rng.random() < 0.7:
                word = lay.vm2pf // 4
                msg_type = rng.randrange(16)
                value = (
                    pfvf.encode(msg_type, rng.getrandbits(14))
                    if rng.random() < 0.7
                    else rng.getrandbits(32)
                )
            else:
                word, value = rng.randrange(len(f.pmisc)), self._value()
            f.pmisc[word] = value
        else:
            page = f.control_words.cast("B")
            page[rng.randrange(emulated.CONTROL_PAGE_SIZE)] = rng.getrandbits(8)
        self.t.stats.register_stores += 1

    def _value(self) -> int:
        rng, t = self.rng, self.t
        return rng.choice(
            (
                0, 1, _U32, 1 << 31, rng.getrandbits(32), rng.randrange(0, 0x4000, 4),
                (t.tx_base + rng.choice((0, 0x40, 0x1000))) & _U32, t.base >> 32, t.end & _U32,
                rng.randrange(0, 0x20),
            )
        )  # fmt: skip


# --- the campaign --------------------------------------------------------------------------


def _recovered(t: Target, hang_seconds: float, cookie: int) -> bool:
    """After :meth:`Target.program`, a NULL request gets its OK response."""
    t.program()
    t.submit([common.null_request(cookie)])
    for _ in range(4):
        t.step(check_outside=False, hang_seconds=hang_seconds)
        got = t.acknowledge()
        if got:
            opaque, valid, status = wire.response_outcome(got[-1])
            return len(got) == 1 and opaque == cookie and valid and status == 0
    return False


def run_target(
    directory: Path,
    device: str,
    *,
    requests: int,
    stores: int,
    seed: int,
    hang_seconds: float = 5.0,
    handlers: Mapping[int, ServiceHandler] | None = None,
    seeds: SeedBuilder | None = None,
    progress: Callable[[str], None] | None = None,
) -> Stats:
    """Throw ``requests`` hostile requests and ``stores`` hostile stores at one endpoint."""
    stats = Stats()
    rng = random.Random(f"{seed}:{device}")
    t = Target(directory, device, rng, stats, handlers)
    hostile = Hostile(t, None if seeds is None else seeds(t.seed_area))
    t.program()
    last = time.monotonic()
    try:
        with _watchdog(hang_seconds):
            while stats.requests < requests or stats.register_stores < stores:
                stats.bursts += 1
                try:
                    _burst(t, hostile, requests, stores, hang_seconds)
                except Hang as exc:
                    stats.hangs += 1
                    stats.note(f"{device}: {exc}")
                except Exception as exc:  # any escape is what we count
                    stats.crashes += 1
                    stats.note(f"{device}: {type(exc).__name__}: {exc}")
                try:
                    if not _recovered(t, hang_seconds, stats.bursts):
                        stats.failed_recoveries += 1
                        stats.note(f"{device}: no NULL response after burst {stats.bursts}")
                except Hang as exc:
                    stats.hangs += 1
                    stats.failed_recoveries += 1
                    stats.note(f"{device}: recovery: {exc}")
                except Exception as exc:
                    stats.failed_recoveries += 1
                    stats.note(f"{device}: recovery raised {type(exc).__name__}: {exc}")
                if progress is not None and time.monotonic() - last > 10:
                    last = time.monotonic()
                    progress(f"{device}: {stats.requests} requests, {stats.register_stores} stores")
    finally:
        stats.device_errors = t.errors.total
        t.device.close()
    return stats


def _burst(t: Target, hostile: Hostile, requests: int, stores: int, hang_seconds: float) -> None:
    stats, rng = t.stats, t.rng
    if stats.requests < requests:
        hostile.scribble_scratch()
        n = min(rng.randrange(1, SLOTS), requests - stats.requests)
        t.submit([hostile.request() for _ in range(n)])
        stats.requests += n
        for _ in range(8):
            t.step(check_outside=True, hang_seconds=hang_seconds)
            t.acknowledge()
            if t.drained():
                break
    if stats.register_stores < stores:
        for _ in range(min(rng.randrange(1, 256), stores - stats.register_stores)):
            hostile.store()
            if rng.random() < 0.25:
                # the outside check on a sample: a PF's ring-CSR BAR is 1.5 MiB to compare
                check = rng.random() < 0.25
                t.step(check_outside=check, hang_seconds=hang_seconds)
        # a request or two on whatever the registers say now
        if rng.random() < 0.5:
            t.submit([hostile.request()])
            stats.requests += 1
        t.step(check_outside=False, hang_seconds=hang_seconds)


def run(
    *,
    requests: int,
    stores: int,
    seed: int = 0,
    devices: tuple[str, ...] = DEVICES,
    hang_seconds: float = 5.0,
    seeds: SeedBuilder | None = None,
    progress: Callable[[str], None] | None = None,
) -> Stats:
    """The campaign over ``devices``, the counts split evenly among them."""
    total = Stats()
    with tempfile.TemporaryDirectory(prefix="fakedev-campaign-") as tmp:
        for i, device in enumerate(devices):
            share = len(devices) - i
            stats = run_target(
                Path(tmp),
                device,
                requests=(requests - total.requests) // share,
                stores=(stores - total.register_stores) // share,
                seed=seed,
                hang_seconds=hang_seconds,
                seeds=seeds,
                progress=progress,
            )
            total.add(stats)
    return total


def peak_rss_mib() -> float:
    """Peak resident set size of this process, MiB (``ru_maxrss`` is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def report(stats: Stats, seconds: float) -> str:
    lines = [
        f"requests            {stats.requests}",
        f"register stores     {stats.register_stores}",
        f"steps               {stats.steps}",
        f"bursts              {stats.bursts}",
        f"device errors       {stats.device_errors} (loud refusals: expected)",
        f"crashes             {stats.crashes}",
        f"hangs               {stats.hangs}",
        f"out-of-window       {stats.out_of_window}",
        f"outside writes      {stats.outside_writes}",
        f"defects             {stats.defects}",
        f"failed recoveries   {stats.failed_recoveries}",
        f"max step time       {stats.max_step_seconds * 1e3:.1f} ms",
        f"peak RSS            {peak_rss_mib():.0f} MiB",
        f"wall time           {seconds:.1f} s",
    ]
    lines += [f"  {text}" for text in stats.failures]
    lines.append("FAILED" if stats.failed else "OK")
    return "\n".join(lines)


def _load_builder(spec: str) -> SeedBuilder:
    module, _, name = spec.partition(":")
    builder: SeedBuilder = getattr(importlib.import_module(module), name or "build")
    return builder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fakedev.campaign", description=__doc__)
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--stores", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--devices", default=",".join(DEVICES), help="comma-separated")
    parser.add_argument("--hang-seconds", type=float, default=5.0, help="the hang bound")
    parser.add_argument(
        "--seeds",
        metavar="MODULE:FUNCTION",
        help="a SeedBuilder of valid requests to mutate (make fuzz: the tests' builder)",
    )
    args = parser.parse_args(argv)
    # device errors are the expected answer to most of this; the counts say what matters
    quiet = logging.getLogger("fakedev")
    quiet.addHandler(logging.NullHandler())
    quiet.propagate = False
    start = time.monotonic()
    stats = run(
        requests=args.requests,
        stores=args.stores,
        seed=args.seed,
        devices=tuple(args.devices.split(",")),
        hang_seconds=args.hang_seconds,
        seeds=_load_builder(args.seeds) if args.seeds else None,
        progress=lambda text: print(text, file=sys.stderr, flush=True),
    )
    print(report(stats, time.monotonic() - start), flush=True)
    return 1 if stats.failed else 0


if __name__ == "__main__":
    sys.exit(main())
