"""The emulated QAT endpoint: rings, PF agent and services over one endpoint file.

:class:`Device` is the whole device model. Each :meth:`Device.step` polls the registers
once (see :mod:`fakedev.csr` for what that means per register), answers the mailbox,
services every arbitration-enabled ring pair, and returns how much work it did, so that
the same model runs deterministically from a test (call ``step()``), in a thread or in
its own process (:mod:`fakedev.runner`).

Faults it can be told to inject (:meth:`Device.inject`):

* ``restart``: the PF restart sequence (docs/hardware.md#device-restart). RESTARTING goes
  to the VF (if it sent INIT) and rings stop; after RESTARTING_COMPLETE (or the PF's
  timeout) the PF disables SR-IOV: the VF function is **removed** — its CSR and PMISC
  windows read all-ones, host writes to them are lost, its PCI command register is
  cleared, and its presentation (a fake sysfs function, :class:`Presence`) disappears.
  After :attr:`Device.removal_time` it comes back as a new function: registers at their
  reset values, requests in flight lost, Bus Master off until the host enables it, and
  RESTARTED only if the VF's INIT survived and it speaks version 5. A PF-style endpoint
  (no SR-IOV) is reset in place, as a new function too: registers at their reset values,
  Bus Master off. Either way the control page's ``device_resets`` counts the restart,
  which is how a frontend without a mailbox (a PF) sees it.
* ``fatal``: FATAL_ERROR goes to the VF (INIT, version 5) and the device stops servicing
  rings until a restart.

As a split driver's backend (:meth:`Device.connect`; docs/split-driver.md) the device
publishes its features, adopts the PF agent's memory of the VF that an earlier backend
left, and services a bank only while the frontend has linked it under this backend's
epoch: a new backend never resumes work an old one left half done.

Two kinds of trouble are recorded in the control page: *device errors* (:meth:`Device.report`:
the host misprogrammed something, as hardware would complain) and *defects*
(:meth:`Device.record_defect`: fakedev's own code failed on a request, a bug of the fake;
its traceback goes to the log, which ``python -m fakedev serve`` prints on stderr).
"""

from __future__ import annotations

import array
import ctypes
import enum
import logging
import os
import random
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Protocol

from fakedev.csr import BankRegs
from fakedev.dispatch import Dispatcher, default_handlers, defect_text
from fakedev.endpoint_file import BackendLock, EndpointFile, EndpointFileError
from fakedev.mailbox import PfAgent
from fakedev.memory import DeviceMemory
from fakedev.rings import DeviceRingPair
from fakedev.services import ServiceHandler
from qathw import cfg_services, emulated
from qathw.emulated import Feature, Features, XenbusState, qathw_emu_bank_link, qathw_emu_control
from qathw.ids import Generation
from qathw.pci_regs import PCI_COMMAND_MASTER
from qathw.transport import pfvf
from qathw.transport.csr import (
    RESPONSE_SIZE,
    RING_SIZE_CODE_MAX,
    RING_SIZE_CODE_MIN,
    coalescing_delay_ns,
    ring_bytes,
)
from qathw.transport.pfvf import Capability, RingService

log = logging.getLogger("fakedev")

DEFAULT_RESTART_TIMEOUT = 10.0  # the kernel PF waits up to 100 x 100 ms for the VFs
_U64_MASK = (1 << 64) - 1
DEFAULT_REMOVAL_TIME = 0.05  # the fake's choice: how long a VF is gone (seconds on hardware)
_ALL_ONES = 0xFFFF_FFFF
_HEARTBEAT_Q = qathw_emu_control.backend_heartbeat.offset // 8
_PCI_COMMAND_W = qathw_emu_control.pci_command.offset // 4
_PCI_COMMAND_SHIFT = 8 * (qathw_emu_control.pci_command.offset % 4)
_COUNTER_WORDS = ctypes.sizeof(emulated.qathw_emu_bank_counters) // 8
_FRONTEND_STATE_W = qathw_emu_control.frontend_state.offset // 4
_BACKEND_STATE_W = qathw_emu_control.backend_state.offset // 4
_FRONTEND_EPOCH_Q = qathw_emu_control.frontend_epoch.offset // 8
_LINK_EPOCH = qathw_emu_bank_link.epoch.offset  # within one link
# The frontend states in which it has handshaken under an epoch (blkif: Initialised, then
# Connected); as plain ints, for a cheap membership test every step.
_UP = frozenset({int(XenbusState.INITIALISED), int(XenbusState.CONNECTED)})

#: What this backend's protocol offers (``qathw_emu_features.flags``).
FEATURES = Feature.BANK_LINKS | Feature.SUSPEND | Feature.DEVICE_RESETS


class Phase(enum.Enum):
    """What the device is doing as a whole."""

    RUNNING = "running"
    QUIESCING = "restarting"  # RESTARTING sent, waiting for the VF to quiesce
    REMOVED = "removed"  # SR-IOV disabled: the function is gone, its BARs read all-ones
    FATAL = "fatal"


class Presence(Protocol):
    """Where the function is presented (a fake sysfs tree), told of its removal."""

    def remove(self) -> None:
        """The function disappears."""

    def restore(self) -> None:
        """The function comes back."""


class Fault(enum.Enum):
    """Faults the device can inject."""

    RESTART = "restart"
    FATAL = "fatal"


def capabilities_for(
    services: tuple[RingService, ...], generation: Generation = Generation.GEN4
) -> int:
    """The capability word a PF of ``generation`` reports for banks serving ``services``.

    The symmetric bits follow the generation's slices (``GenerationTraits.crypto``), as
    Linux's ``get_accel_cap`` reports them: ``AES_V2`` with the UCS slice, ``AESGCM_SPC``
    with single-pass GCM, ``CHACHA_POLY`` and ``SHA3`` where the generation has them.
    """
    caps = Capability(0)
    if RingService.SYM in services or RingService.CRYPTO in services:
        caps |= Capability.SYMMETRIC | Capability.CIPHER | Capability.AUTHENTICATION
        crypto = generation.traits.crypto
        for has, bit in (
            (crypto.ucs_slice, Capability.AES_V2),
            (crypto.gcm_single_pass, Capability.AES_GCM_SPC),
            (crypto.chacha_poly, Capability.CHACHA_POLY),
            (crypto.sha3, Capability.SHA3),
        ):
            if has:
                caps |= bit
    if RingService.ASYM in services or RingService.CRYPTO in services:
        caps |= Capability.ASYMMETRIC
    if RingService.COMP in services:
        caps |= Capability.COMPRESSION
    return int(caps)


def features_for(generation: Generation, ring_service_map: int) -> Features:
    """The features a backend of ``generation`` publishes when it serves ``ring_service_map``.

    The map (and so the capability word) is published only where the generation has one
    (gen4 and later): elsewhere every bank serves every service, whatever the map says.
    The ring limits are the ring sizes the device accepts (``RING_SIZE_CODE_MIN`` to
    ``RING_SIZE_CODE_MAX``, the range qathw's rings are sized from).
    """
    mapped = generation.traits.ring_service_map
    services = pfvf.decode_ring_service_map(ring_service_map) if mapped else tuple(RingService)
    return Features(
        flags=FEATURES,
        ring_service_map=ring_service_map if mapped else 0,
        capabilities=capabilities_for(services, generation),
        min_ring_bytes=ring_bytes(RING_SIZE_CODE_MIN),
        max_ring_bytes=ring_bytes(RING_SIZE_CODE_MAX),
    )


def services_text(ring_service_map: int) -> str | None:
    """The ``--services`` value (``sym;asym``, ``dc``...) that gives ``ring_service_map``
    on gen4, or ``None`` when none does (a map no ``cfg_services`` value lays out)."""
    names = cfg_services.TOKENS[::-1]  # "sym;asym" before "asym;sym": the older spelling
    for first in names:
        for text in (first, *(f"{first};{other}" for other in names if other != first)):
            try:
                if pfvf.ring_service_map_from_names(text) == ring_service_map:
                    return text
            except ValueError:
                continue
    return None


def _describe(ring_service_map: int, capabilities: int) -> str:
    if not ring_service_map:
        return f"no ring-to-service map and capabilities {capabilities:#x}"
    banks = ",".join(s.name.lower() for s in pfvf.decode_ring_service_map(ring_service_map))
    return (
        f"ring-to-service map {ring_service_map:#06x} (banks {banks}) and capabilities "
        f"{capabilities:#x}"
    )


class DeviceBank:
    """One bank: its register indices, its ring pairs and its interrupt.

    Attributes:
        irq_fd: the eventfd the bank's interrupt is delivered to (see
            :mod:`fakedev.irq`), or ``None``: the device writes it after posting responses
            on a response ring whose interrupt the driver enabled (``INT_COL_EN`` bit of
            the ring): at once when ``INT_COL_CTL`` bit 31 is clear, else once the
            coalescing delay of its low bits has passed since the first response it holds
            (docs/hardware.md#interrupts).
    """

    def __init__(
        self,
        regs: BankRegs,
        pairs: list[DeviceRingPair],
        counters: memoryview | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.regs = regs
        self.pairs = pairs
        # The bank's three counter words (requests, request bytes, response bytes) in the
        # control page; None past MAX_COUNTED_BANKS.
        self._counters = counters
        rings = regs.layout.rings_per_bank
        self._all_empty = (1 << rings) - 1
        self._idle = False
        self.irq_fd: int | None = None
        self._col_en = regs.word(regs.layout.int_col_en)
        self._col_ctl = regs.word(regs.layout.int_col_ctl)
        self._clock = clock
        self.irq_due: float | None = None  # a coalesced interrupt held until then

    def step(self, csr: memoryview, *, dma: bool = True) -> int:
        """Service the arbitration-enabled pairs (only with ``dma``), then update E_STAT."""
        if self.irq_due is not None and self._clock() >= self.irq_due:
            self.irq_due = None
            self._signal()
        arb = csr[self.regs.arb_en]
        if not arb and self._idle:
            return 0
        work = 0
        if arb and dma:
            for pair in self.pairs:
                if arb & pair.tx_bit:
                    done = pair.service()
                    if done:
                        self._count(done, pair.request_bytes)
                        if self.irq_fd is not None:
                            self._interrupt(csr, pair.rx)
                    work += done
        estat = self._all_empty
        for pair in self.pairs:
            mine = pair.tx_bit | (1 << pair.rx)
            estat = (estat & ~mine) | pair.empty_bits()
        if csr[self.regs.e_stat] != estat:
            csr[self.regs.e_stat] = estat
        self._idle = not arb and estat == self._all_empty
        return work

    def _count(self, requests: int, request_size: int) -> None:
        c = self._counters
        if c is not None:
            c[0] = (c[0] + requests) & _U64_MASK
            c[1] = (c[1] + requests * request_size) & _U64_MASK
            c[2] = (c[2] + requests * RESPONSE_SIZE) & _U64_MASK

    def _interrupt(self, csr: memoryview, rx: int) -> None:
        if not csr[self._col_en] >> rx & 1:
            return
        delay = coalescing_delay_ns(csr[self._col_ctl])
        if delay is None:
            self._signal()  # no coalescing: every response interrupts
        elif self.irq_due is None:
            self.irq_due = self._clock() + delay * 1e-9  # held from the first response

    def _signal(self) -> None:
        fd = self.irq_fd
        if fd is not None:
            os.eventfd_write(fd, 1)

    def release(self) -> None:
        """Drop the view of the counters (before the mapping closes)."""
        if self._counters is not None:
            self._counters.release()
            self._counters = None

    def reset(self, csr: memoryview) -> None:
        """Ring-pair reset: registers cleared, then :meth:`forget`."""
        self.regs.clear(csr)
        self.forget()

    def forget(self) -> None:
        """Drop the device's own state of the bank's rings (consumer head, producer tail,
        latched configuration, faults) but not the registers: the frontend has just
        programmed them, and the rings start again from what they say."""
        for pair in self.pairs:
            pair.reset()
        self._idle = False
        self.irq_due = None


class Device:
    """An emulated QAT endpoint, driven one :meth:`step` at a time.

    Args:
        path: the endpoint file (``python -m fakedev create``).
        handlers: ``service_type`` -> handler; :func:`fakedev.dispatch.default_handlers`
            when ``None`` (NULL, plus the engine's LA/COMP once it exists).
        ring_service_map: the PF's ring-to-service map (gen4 VF): which service each bank
            serves, so which request size its rings use (asym 64 bytes, else 128). A
            PF-style endpoint takes each pair's request size from its ring sizes.
        restart_timeout: seconds to wait for RESTARTING_COMPLETE before resetting anyway.
        removal_time: seconds a restarted VF stays removed.
        presence: told when the VF is removed and when it comes back (a fake sysfs tree).
        clock: monotonic clock (tests may pass their own).

    Raises:
        EndpointFileError: the file is missing or not an endpoint.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        handlers: Mapping[int, ServiceHandler] | None = None,
        ring_service_map: int = pfvf.DEFAULT_RING_SVC_MAP,
        restart_timeout: float = DEFAULT_RESTART_TIMEOUT,
        removal_time: float = DEFAULT_REMOVAL_TIME,
        presence: Presence | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self.file = EndpointFile(path)
        self._lock: BackendLock | None = None
        try:
            spec = self.file.spec
            info = self.file.info
            self.layout = spec.layout
            self.services = pfvf.decode_ring_service_map(ring_service_map)
            self.memory = DeviceMemory(self.file.devmem, info.windows.devmem_iova)
            self.errors: deque[str] = deque(maxlen=64)
            self.defects: deque[str] = deque(maxlen=64)
            self._dispatch = Dispatcher(
                default_handlers(self.layout.generation) if handlers is None else handlers,
                self.memory,
                self.record_defect,
            )
            self.banks: list[DeviceBank] = []
            for b in range(spec.banks):
                regs = BankRegs(self.layout, b, is_vf=spec.kind.is_vf)
                pairs = [
                    DeviceRingPair(
                        self.file.csr,
                        regs,
                        tx,
                        self.layout.rx_ring_of(tx),
                        self._request_size(b, tx),
                        self.memory,
                        self._dispatch.for_bank(self._bank_service(b)),
                        self.report,
                    )
                    for tx in self.layout.tx_rings
                ]
                words = _COUNTER_WORDS
                counters = (
                    self.file.counters[b * words : (b + 1) * words]
                    if b < emulated.MAX_COUNTED_BANKS
                    else None
                )
                self.banks.append(DeviceBank(regs, pairs, counters, lambda: self._clock()))
            self.features = features_for(self.layout.generation, ring_service_map)
            self.agent: PfAgent | None = None
            if spec.kind.is_vf and self.layout.vintmsk_pf2vm is not None:
                self.agent = PfAgent(
                    self.file.pmisc,
                    self.layout,
                    spec.banks,
                    ring_service_map,
                    self.features.capabilities,
                    self.reset_bank,
                    clock=lambda: self._clock(),
                    pf_state=self.file.pf_state,
                )
        except BaseException:
            for bank in getattr(self, "banks", ()):
                bank.release()
            self.file.close()
            raise
        self.phase = Phase.RUNNING
        self._restart_timeout = restart_timeout
        self.removal_time = removal_time
        self.presence = presence
        self.restarts = 0
        self._deadline = 0.0
        self._hb = self.file.control_u64
        self._words = self.file.control_words
        # The split driver (docs/split-driver.md). Epoch 0: never connect()ed, so every
        # bank is serviced (a device stepped by hand in a test); else a bank is serviced
        # only while its link holds the epoch (_serviced), the others are parked.
        self._epoch = 0
        self._frontend_up = False
        self._linkable = min(len(self.banks), emulated.MAX_COUNTED_BANKS)
        self._links = self.file.links[: self._linkable * emulated.LINK_SIZE]  # this device's
        self._linked = [False] * self._linkable
        self._links_seen = b""
        self._serviced: list[DeviceBank] = list(self.banks)
        self._parked: list[DeviceBank] = []

    def _bank_service(self, bank: int) -> RingService | None:
        """The service bank ``bank`` runs (``None``: no ring-to-service map, every one)."""
        if not self.layout.generation.traits.ring_service_map:
            return None
        return self.services[bank % pfvf.RING_SVC_MAP_BANKS]

    def _request_size(self, bank: int, tx: int) -> int | None:
        if not self.file.spec.kind.is_vf:
            return None  # a PF's banks serve what its configuration says: read the rings
        fixed = self.layout.fixed_request_size(tx)
        if fixed is not None:
            return fixed
        return pfvf.request_size(self.services[bank % pfvf.RING_SVC_MAP_BANKS])

    # --- the loop body -------------------------------------------------------------------

    def step(self) -> int:
        """Poll every register once and do the work found.

        Returns:
            Units of work done (requests answered, mailbox messages moved); 0 when idle.
        """
        hb = self._hb
        hb[_HEARTBEAT_Q] = (hb[_HEARTBEAT_Q] + 1) & _U64_MASK
        if self.phase is Phase.REMOVED:
            return self._advance_restart()  # no PF agent behind a function that is gone
        if self._epoch:
            # The backend's half of the handshake, and the bank links: two words compared,
            # and the links compared as one byte string with what they held last time.
            up = hb[_FRONTEND_EPOCH_Q] == self._epoch and self._words[_FRONTEND_STATE_W] in _UP
            if up is not self._frontend_up:
                self._follow_frontend(up)
            raw = self._links.tobytes()
            if raw != self._links_seen:
                self._relink(raw)
        work = self.agent.step() if self.agent is not None else 0
        if self.phase is not Phase.RUNNING:
            return work + self._advance_restart()
        # Without Bus Master Enable there is no DMA: ring memory is not touched, but the
        # status registers (plain MMIO) still follow the host's writes.
        command = self._words[_PCI_COMMAND_W] >> _PCI_COMMAND_SHIFT
        dma = bool(command & PCI_COMMAND_MASTER)
        csr = self.file.csr
        for bank in self._serviced:
            work += bank.step(csr, dma=dma)
        for bank in self._parked:  # not linked under this epoch: status only, no DMA
            bank.step(csr, dma=False)
        return work

    def _follow_frontend(self, up: bool) -> None:
        """blkif: InitWait -> Connected once the frontend is Initialised (or Connected)
        under this backend's epoch; back to InitWait when it leaves, for the next one."""
        self._frontend_up = up
        self._words[_BACKEND_STATE_W] = XenbusState.CONNECTED if up else XenbusState.INIT_WAIT

    def _relink(self, raw: bytes) -> None:
        """Recompute which banks are linked under this epoch; a bank whose link has just
        become the epoch was just programmed by the frontend: forget what the device knew
        of its rings (work an earlier backend or link left half done is never resumed)."""
        size = emulated.LINK_SIZE
        epoch = self._epoch.to_bytes(8, "little")
        serviced: list[DeviceBank] = []
        parked: list[DeviceBank] = []
        for b, bank in enumerate(self.banks):
            if b >= self._linkable:
                serviced.append(bank)  # no link to gate it by
                continue
            at = b * size + _LINK_EPOCH
            linked = raw[at : at + 8] == epoch
            if linked and not self._linked[b]:
                bank.forget()
            self._linked[b] = linked
            (serviced if linked else parked).append(bank)
        self._serviced, self._parked = serviced, parked
        self._links_seen = raw

    def linked(self, bank: int) -> bool:
        """Whether ``bank`` is serviced: always for a device never connected, else while
        its link holds this backend's epoch (as of the last step).

        Raises:
            IndexError: no such bank.
        """
        return self.banks[bank] in self._serviced

    # --- faults, resets, errors ----------------------------------------------------------

    def report(self, message: str) -> None:
        """Record a loud device error: control page, :attr:`errors`, the log."""
        self.errors.append(message)
        self.file.set_device_error(message)
        log.error("device error: %s", message)

    def record_defect(self, exc: BaseException) -> None:
        """Record a fakedev defect: control page (text, count), :attr:`defects`, and the
        log with the traceback (the request itself gets a defect response)."""
        text = defect_text(exc)
        self.defects.append(text)
        self.file.set_defect(text)
        log.error("fakedev defect (a bug of the fake, not a device status): %s", text, exc_info=exc)

    def reset_bank(self, bank: int) -> bool:
        """Ring-pair reset of one bank: registers cleared, in-flight work dropped."""
        self.banks[bank].reset(self.file.csr)
        return True

    def interrupt_eventfd(self, bank: int) -> int:
        """The eventfd of ``bank``'s interrupt (created on first use; the device owns it).

        Raises:
            IndexError: no such bank.
        """
        b = self.banks[bank]
        if b.irq_fd is None:
            b.irq_fd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
        return b.irq_fd

    def reset_all(self) -> None:
        """Every bank back to its reset state."""
        for bank in self.banks:
            bank.reset(self.file.csr)

    def inject(self, fault: Fault | str) -> None:
        """Inject ``fault`` (``restart`` or ``fatal``); takes effect in the next steps.

        Raises:
            ValueError: an unknown fault name.
        """
        try:
            fault = Fault(fault)
        except ValueError:
            names = ", ".join(f.value for f in Fault)
            raise ValueError(f"unknown fault '{fault}'; use one of {names}") from None
        if fault is Fault.FATAL:
            self.phase = Phase.FATAL
            if self.agent is not None:
                self.agent.notify_fatal_error()
            log.warning("injected FATAL_ERROR")
            return
        log.warning("injected restart")
        if self.phase in (Phase.QUIESCING, Phase.REMOVED):
            return  # a restart is under way (Linux: ADF_STATUS_RESTARTING)
        if not self.file.spec.kind.is_vf:
            # A PF restarts in place (only its VFs are removed), but it is a new function
            # all the same: registers reset, Bus Master off; counting it in device_resets
            # is how a frontend without a mailbox sees that it happened.
            self.reset_all()
            self._clear_pci_command()
            self.restarts += 1
            self.phase = Phase.RUNNING
            self._count_reset()
            return
        waits = self.agent.notify_restarting() if self.agent is not None else False
        self.phase = Phase.QUIESCING
        self._deadline = self._clock() + (self._restart_timeout if waits else 0.0)

    def _advance_restart(self) -> int:
        if self.phase is Phase.QUIESCING:
            agent = self.agent
            if agent is not None and not agent.delivered():
                return 0  # RESTARTING not yet taken (each PF send waits for its ack)
            if agent is not None and agent.restarting and self._clock() < self._deadline:
                return 0  # adf_pf2vf_wait_for_restarting_complete
            self._remove()
            return 1
        if self.phase is Phase.REMOVED:
            self._fill(_ALL_ONES)  # a removed function: reads all-ones, writes are lost
            if self._clock() < self._deadline:
                return 0
            self._return()
            return 1
        return 0

    def _remove(self) -> None:
        log.warning("SR-IOV disabled: the VF is removed")
        self.phase = Phase.REMOVED
        self._clear_pci_command()
        self._fill(_ALL_ONES)
        self._deadline = self._clock() + self.removal_time
        if self.presence is not None:
            self.presence.remove()

    def _return(self) -> None:
        self._fill(0)
        self.reset_all()
        self._clear_pci_command()  # a new function: no Memory Space, no Bus Master
        self.restarts += 1
        self.phase = Phase.RUNNING
        self._count_reset()  # after the reset: a frontend that sees it finds a clean function
        if self.agent is not None:
            self.agent.reset_channel()
            self.agent.notify_restarted()
        if self.presence is not None:
            self.presence.restore()
        log.warning("SR-IOV enabled again: the VF is back")

    def _fill(self, word: int) -> None:
        for window in (self.file.csr, self.file.pmisc):
            window[:] = array.array("I", [word]) * len(window)

    def _clear_pci_command(self) -> None:
        words = self._words
        words[_PCI_COMMAND_W] &= ~(0xFFFF << _PCI_COMMAND_SHIFT) & 0xFFFF_FFFF

    def _count_reset(self) -> None:
        page = self.file.control
        if page is not None:
            page.device_resets = (page.device_resets + 1) & 0xFFFF_FFFF

    # --- backend identity and the handshake (docs/split-driver.md) ----------------------

    def connect(self) -> None:
        """Claim the endpoint as its backend and publish it in the control page.

        Takes the host-side lock, then checks the features an earlier backend published
        (another service map or capability word: refused, the file untouched), adopts
        the PF agent's memory of the VF (``pf_state``, validated), publishes this
        backend's features, writes pid and a new epoch, then clears the suspend request
        (in that order: docs/split-driver.md#suspend), and goes to state InitWait. From
        then on a bank is serviced only while the frontend has linked it under that epoch;
        the state goes to Connected once the frontend has handshaken (:meth:`step`). The
        page only reports all this: a guest can write it.

        Raises:
            EndpointFileError: another process holds the endpoint's backend lock, or the
                file was served with other features (the message says what to do).
        """
        # (no view of the mapping may be alive in this frame when this raises: the
        # traceback keeps it, and the caller's close() of the mapping would then fail)
        lock = BackendLock(self.file.path).acquire()
        problem = self._refusal()
        if problem is not None:
            lock.release()
            raise EndpointFileError(problem)
        self._lock = lock
        self._claim()

    def _refusal(self) -> str | None:
        """Why this backend may not serve the file as an earlier one left it, if it may not."""
        page = self.file.control
        assert page is not None
        theirs = page.features
        if not theirs.flags:
            return None  # nothing published yet: a new file, or one no backend served
        mine = self.features
        if (theirs.ring_service_map, theirs.capabilities) == (
            mine.ring_service_map,
            mine.capabilities,
        ):
            return None
        path = self.file.path
        was = _describe(theirs.ring_service_map, theirs.capabilities)
        now = _describe(mine.ring_service_map, mine.capabilities)
        services = services_text(theirs.ring_service_map)
        same = (
            f"start this backend with the file's services (--services '{services}', "
            f"ring_service_map={theirs.ring_service_map:#06x}), or "
            if services is not None
            else ""
        )
        return (
            f"{path} was served with {was}; this backend would serve {now}, so its "
            f"frontend would find another endpoint; {same}recreate the file with 'python -m "
            f"fakedev create {path} --force' (its state is lost)"
        )

    def _claim(self) -> None:
        page = self.file.control
        assert page is not None
        if self.agent is not None:
            self.agent.adopt(page.pf_state.vf_compat, page.pf_state.vf_init)
        f, mine = page.features, self.features
        f.ring_service_map = mine.ring_service_map
        f.capabilities = mine.capabilities
        f.min_ring_bytes = mine.min_ring_bytes
        f.max_ring_bytes = mine.max_ring_bytes
        f.flags = int(mine.flags)  # last: nonzero flags mean "published"
        epoch = page.backend_epoch
        while epoch in (0, page.backend_epoch):
            epoch = (time.time_ns() ^ random.getrandbits(64)) & _U64_MASK
        page.backend_pid = os.getpid()
        page.backend_epoch = epoch
        self._epoch = epoch
        # Only after the new epoch: a frontend that then reads "no suspend request" and
        # an unchanged epoch (it reads them in that order) knows the host cancelled the
        # request, and never resumes sending under the earlier backend's epoch.
        page.suspend_request = 0  # a request was for the frontend of an earlier backend
        self._frontend_up = False
        self._linked = [False] * self._linkable
        self._links_seen = b""  # every link is read afresh at the next step
        self._serviced = list(self.banks[self._linkable :])
        self._parked = list(self.banks[: self._linkable])
        page.backend_state = XenbusState.INIT_WAIT

    def closing(self) -> None:
        """Say the backend is leaving (state Closing): it stops serving soon."""
        page = self.file.control
        if page is not None and self._lock is not None:
            page.backend_state = XenbusState.CLOSING

    def disconnect(self) -> None:
        """Leave the endpoint: state Closed, no pid, lock released."""
        page = self.file.control
        if page is not None and self._lock is not None:
            page.backend_state = XenbusState.CLOSED
            page.backend_pid = 0
        if self._lock is not None:
            self._lock.release()
            self._lock = None
        self._epoch = 0
        self._serviced, self._parked = list(self.banks), []

    def close(self) -> None:
        """Release ring views, interrupt eventfds and the file mapping."""
        for bank in self.banks:
            bank.release()
            for pair in bank.pairs:
                pair.release()
            if bank.irq_fd is not None:
                os.close(bank.irq_fd)
                bank.irq_fd = None
        self.memory.release()
        self._links.release()
        self.file.close()
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> Device:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["Device", "EndpointFileError", "Fault", "Phase", "Presence"]
