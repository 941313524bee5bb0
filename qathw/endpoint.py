"""Open a QAT endpoint: its ring-CSR BAR, its PMISC BAR, DMA memory and identity.

An :class:`Endpoint` is what the transport needs of a device, wherever it comes from:

* a real VF through VFIO: CSR BAR = region 0, PMISC BAR = region 2, DMA from the pool
  the access path maps for it (:func:`open_endpoint`);
* an emulated endpoint (fakedev): one BAR — ``resource2`` of the ivshmem function in a
  (fake or real) sysfs tree, or VFIO region 2 in a guest — holding the whole endpoint
  file. Its control page says where the CSR and PMISC windows are, and its device-memory
  window is the DMA pool (the device can reach nothing else) (:meth:`Endpoint.from_emulated_bar`).

How a function is reached is one small choice at the bottom (:func:`open_endpoint`, through
:func:`qathw.pci_access.open_access`): VFIO when the function is bound to ``vfio-pci``,
the sysfs ``resourceN`` files otherwise (root). :func:`open_emulated` maps an emulated
endpoint's ``resource2`` (or the endpoint file itself, for tests). Everything above is the
same for every path.

A device restart removes a VF and brings it back (docs/hardware.md#device-restart): the
endpoint's :class:`~qathw.transport.watch.DeviceWatch` finds that out of band and reopens
the function in place (:meth:`Endpoint.check_events`); ring pairs then program their rings
again. An emulated endpoint keeps its mapping (its device memory is the host's memory the
requests point into) and sets Memory Space and Bus Master again on the new function.

An emulated endpoint is the frontend of a split driver (docs/split-driver.md): at
open it writes the backend's epoch as its own and state Initialised, Connected after the
handshake (:meth:`Endpoint.connect`), and it links each bank it programs rings on under
that epoch (a backend services a bank only while so linked). A new backend, a device
restart nothing announced (a PF-style endpoint), a suspend request: the watch finds each
in the control page and the endpoint reopens, relinks or suspends (:class:`_Control`).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from qathw import emulated, ids, sysfsio
from qathw.dma import DmaPool, WindowDmaPool
from qathw.errors import (
    DeviceError,
    EndpointChangedError,
    MailboxError,
    QatError,
    RingConfigError,
)
from qathw.mmio import Mmio
from qathw.paths import HostRoot
from qathw.pci_access import PciAccess, open_access
from qathw.pci_regs import PCI_COMMAND_MASTER, PCI_COMMAND_MEMORY, PCI_VENDOR_ID
from qathw.transport import pfvf
from qathw.transport.bank import Bank
from qathw.transport.csr import CsrLayout, layout_for
from qathw.transport.interrupts import (
    BankInterrupt,
    EmulatedInterrupts,
    InterruptSource,
    NoInterrupts,
    VfioInterrupts,
)
from qathw.transport.mailbox import DEFAULT_TIMEOUT, Mailbox, PfEvent
from qathw.transport.pfvf import RingService
from qathw.transport.relay import RelayedMailbox
from qathw.transport.ring import ALL_ONES, DEFAULT_SLOTS, RingPair
from qathw.transport.watch import DEFAULT_INTERVAL, DeviceWatch, WatchState
from qathw.vfio_lent import LentDevice

_PAGE = emulated.qathw_emu_control
_FRONTEND_STATE = _PAGE.frontend_state.offset
_FRONTEND_EPOCH = _PAGE.frontend_epoch.offset
_BACKEND_EPOCH = _PAGE.backend_epoch.offset
_HEARTBEAT = _PAGE.backend_heartbeat.offset
_DEVICE_RESETS = _PAGE.device_resets.offset
_SUSPEND_REQUEST = _PAGE.suspend_request.offset
_LINK_EPOCH = emulated.qathw_emu_bank_link.epoch.offset
_LINK_ACK = emulated.qathw_emu_bank_link.suspend_ack.offset
_PCI_COMMAND = _PAGE.pci_command.offset
_ERROR_COUNT = _PAGE.device_error_count.offset
_ERROR_TEXT = _PAGE.device_error.offset
_BACKEND_UP = (emulated.XenbusState.INIT_WAIT, emulated.XenbusState.CONNECTED)
_HEARTBEAT_WAIT = 0.05  # longer than a backend's deepest idle sleep (fakedev: 2 ms)
_WATCH_HINTS = {
    WatchState.QUIESCED: "the device is restarting; requests go once it is back",
    WatchState.GONE: "it is being reopened (a restart, or a new backend); requests go then",
    WatchState.FAILED: "the device reported a fatal error; it needs a restart",
    WatchState.CHANGED: "it came back as another endpoint; open the instances again",
}
_SHUTDOWN_TIMEOUT = 0.1  # SHUTDOWN is a courtesy: do not hang on a PF that is gone
_BANK_SLICE_ALIGN = 0x1000
_GUEST_NO_IRQ = NoInterrupts(
    "an emulated endpoint reached through VFIO (ivshmem-plain in a guest) has no "
    "interrupts: no MSI-X vector, no INTx pin",
    hint="use polled instances (IsPolled = 1) in the guest",
)


class _Closeable(Protocol):
    def close(self) -> None: ...


def _read_sysfs_id(path: Path) -> int | None:
    try:  # through the seam: a bounded read of a regular file, never a FIFO or a device
        return int(sysfsio.current().read(path).strip(), 16)
    except (OSError, ValueError):
        return None


def bar2_path(source: str | os.PathLike[str]) -> Path:
    """The file holding an emulated endpoint's BAR2.

    This is the one place that knows how a device directory names its BARs; it will take a
    discovered PCI function instead of a path once discovery provides one.

    Args:
        source: a sysfs PCI device directory (``.../devices/0000:00:04.0``, an ivshmem
            function whose ``resource2`` is the endpoint), or the endpoint file itself.

    Raises:
        DeviceError: a device directory that is not an ivshmem function, or that has no
            ``resource2``.
    """
    path = Path(source)
    if not path.is_dir():
        return path
    vendor = _read_sysfs_id(path / "vendor")
    device = _read_sysfs_id(path / "device")
    if (
        vendor is not None
        and device is not None
        and (vendor, device)
        != (
            ids.IVSHMEM_VENDOR_ID,
            ids.IVSHMEM_DEVICE_ID,
        )
    ):
        raise DeviceError(
            f"{path.name} is {vendor:04x}:{device:04x}, not an ivshmem function "
            f"({ids.IVSHMEM_VENDOR_ID:04x}:{ids.IVSHMEM_DEVICE_ID:04x})",
            hint="an emulated QAT endpoint is presented as an ivshmem device",
            path=path,
        )
    bar = path / "resource2"
    if not bar.exists():
        raise DeviceError(
            f"{path.name} has no resource2",
            hint="the ivshmem function's BAR2 holds the endpoint; is this the right device?",
            path=path,
        )
    return bar


def map_bar2(source: str | os.PathLike[str]) -> Mmio:
    """Map an emulated endpoint's BAR2 wholly (the access path: sysfs ``resource2``).

    Raises:
        DeviceError: see :func:`bar2_path`.
        DeviceAccessError: the file cannot be opened or mapped.
    """
    path = bar2_path(source)
    return Mmio.map_file(path, name=f"{Path(source).name} BAR2")


class _Control:
    """The frontend's half of an emulated endpoint's control page (docs/split-driver.md).

    Remembers what the endpoint was (re)opened under — the backend's epoch, the device's
    restart count, identity, windows and features — and writes the frontend's fields:
    state, epoch, and each bank's link. Implements the watch's
    :class:`~qathw.transport.watch.ControlLink`. Every read is of plain memory.
    """

    def __init__(self, page: Mmio, info: emulated.ControlInfo, name: str) -> None:
        self._page = page
        self._name = name
        self.info = info
        self._linked: set[int] = set()

    @property
    def features(self) -> emulated.Features:
        return self.info.features

    def initialised(self, info: emulated.ControlInfo | None = None) -> None:
        """Handshake begun under ``info``'s epoch (default: the known one): frontend epoch,
        state Initialised."""
        self._page.write64(_FRONTEND_EPOCH, (info or self.info).backend_epoch)
        self._page.write32(_FRONTEND_STATE, emulated.XenbusState.INITIALISED)

    def connected(self) -> None:
        self._page.write32(_FRONTEND_STATE, emulated.XenbusState.CONNECTED)

    def replaced(self) -> bool:
        page = self._page
        if page.closed:
            return False
        return (
            page.read64(_BACKEND_EPOCH) != self.info.backend_epoch
            or page.read32(_DEVICE_RESETS) != self.info.device_resets
        )

    def suspend_request(self) -> int:
        return 0 if self._page.closed else self._page.read32(_SUSPEND_REQUEST)

    def link(self, bank: int) -> None:
        if bank < emulated.MAX_COUNTED_BANKS:  # past them a bank has no link (serviced)
            self._page.write64(emulated.link_offset(bank) + _LINK_EPOCH, self.info.backend_epoch)
            self._linked.add(bank)

    def acknowledge(self, bank: int, request: int) -> None:
        if bank < emulated.MAX_COUNTED_BANKS:
            self._page.write32(emulated.link_offset(bank) + _LINK_ACK, request)

    def unlink(self) -> None:
        """Every bank this endpoint linked: no rings programmed under any epoch now."""
        if not self._page.closed:
            for bank in self._linked:
                self._page.write64(emulated.link_offset(bank) + _LINK_EPOCH, 0)
        self._linked.clear()

    def commit(self, now: emulated.ControlInfo) -> None:
        """The reopen under ``now`` is done: its generation is the known one from now on."""
        self.info = now

    def check(self, now: emulated.ControlInfo) -> bool:
        """Whether the endpoint may be reopened under the page as read now (``now``).

        Returns:
            False while the backend is not ready (it is still starting: no features
            published, or its state not yet InitWait/Connected); look again later.

        Raises:
            EndpointChangedError: the endpoint came back as another one: other identity,
                windows, or features (the message says what changed and what to do).
        """
        was = self.info
        if now.backend_epoch and now.backend_state not in _BACKEND_UP:
            return False
        if was.features.published and not now.features.published:
            return False  # a backend between its start and its publishing
        changes = []
        if (now.kind, now.num_banks, now.windows) != (was.kind, was.num_banks, was.windows):
            changes.append(
                f"it is now a {now.kind.class_name} of {now.num_banks} banks with other "
                f"windows (was a {was.kind.class_name} of {was.num_banks} banks)"
            )
        if was.features.published and now.features != was.features:
            changes.append(
                f"its features are now {_features(now.features)} (were {_features(was.features)})"
            )
        if changes:
            raise EndpointChangedError(
                f"{self._name} came back as another endpoint: {'; '.join(changes)}",
                hint="its backend serves something else now (the file was recreated, or "
                "the backend started with other --services): close and open the "
                "instances again, or restart the backend as the endpoint was",
            )
        return True

    def heartbeat(self) -> int:
        return self._page.read64(_HEARTBEAT)


def _features(f: emulated.Features) -> str:
    return (
        f"ring-to-service map {f.ring_service_map:#06x}, capabilities {f.capabilities:#x}, "
        f"rings {f.min_ring_bytes}..{f.max_ring_bytes} bytes"
    )


class Endpoint:
    """A QAT endpoint's registers, DMA memory and identity, ready for ring pairs.

    Build one with :func:`open_endpoint`, :func:`open_emulated` or :meth:`from_emulated_bar`.

    Attributes:
        name: how errors name the endpoint.
        kind: PCI identity (family, PF or VF).
        layout: the generation's CSR layout.
        csr / pmisc: the ring-CSR and PMISC BAR windows.
        dma: where ring and buffer memory comes from.
        num_banks: banks of this function.
        mailbox: the PF/VF mailbox (gen4 VFs), or ``None`` — also for a VF the section
            broker lent, whose mailbox only the broker speaks on.
        relay: a lent VF's mailbox as the broker relays it (handshake results, PF
            notifications), or ``None``.
        services: each bank's service, once :meth:`connect` has read the ring-to-service
            map (``None`` before, or without a mailbox).
        capabilities: the PF's capability word, after :meth:`connect`.
        features: an emulated endpoint's backend features as read at open (or at the
            reopen that first found them published); ``None`` for a real function.

    Memory: an emulated endpoint's device memory is one window that every process mapping
    the endpoint sees. :meth:`bank_memory` gives each bank an equal, fixed slice of it, so
    processes that hold different banks (sections of one endpoint) never allocate the same
    bytes; on a real device each process has its own IOVA space and every bank shares
    :attr:`dma`.
    """

    def __init__(
        self,
        *,
        name: str,
        kind: ids.FunctionKind,
        csr: Mmio,
        pmisc: Mmio,
        dma: DmaPool,
        num_banks: int,
        owned: list[_Closeable] | None = None,
        control: Mmio | None = None,
        mailbox_timeout: float = DEFAULT_TIMEOUT,
        mailbox_idle: Callable[[], object] | None = None,
        interrupts: InterruptSource | None = None,
        shared_memory: WindowDmaPool | None = None,
        reopen: Callable[[], emulated.ControlInfo | None] | None = None,
        event_interval: float = DEFAULT_INTERVAL,
        broken: Callable[[], QatError | None] | None = None,
        relay: RelayedMailbox | None = None,
        opened: emulated.ControlInfo | None = None,
    ) -> None:
        self.name = name
        self.kind = kind
        self.layout: CsrLayout = layout_for(kind.generation)
        self.csr = csr
        self.pmisc = pmisc
        self.dma = dma
        self.num_banks = num_banks
        self._owned: list[_Closeable] = owned or []
        self._control = control
        self._banks: dict[int, Bank] = {}
        self._pairs: list[RingPair] = []
        self._lock = threading.Lock()
        self.mailbox: Mailbox | None = None
        self.relay = relay
        # A lent VF's mailbox is the broker's: several holders speaking on it collide.
        if relay is None and kind.is_vf and self.layout.vintmsk_pf2vm is not None:
            self.mailbox = Mailbox(pmisc, self.layout, timeout=mailbox_timeout, idle=mailbox_idle)
        self.services: tuple[RingService, ...] | None = None
        self.capabilities: int | None = None
        self._interrupts = interrupts or NoInterrupts(
            f"{name} offers no ring interrupts",
            hint="use polled instances (IsPolled = 1)",
        )
        self._irqs: list[BankInterrupt] = []
        self._shared = shared_memory
        self._bank_pools: dict[int, WindowDmaPool] = {}
        self._closed = False
        self._reopen_function = reopen
        # The split driver's frontend fields: an emulated endpoint's control page.
        self._link = None if control is None or opened is None else _Control(control, opened, name)
        if self._link is not None:
            self._link.initialised()
        self.watch = DeviceWatch(
            name,
            mailbox=self.mailbox if relay is None else relay,
            probe=self._probe,
            fresh=self._fresh,
            reopen=None if reopen is None else self._reopen,
            interval=event_interval,
            broken=broken,
            control=self._link,
        )

    @property
    def features(self) -> emulated.Features | None:
        return None if self._link is None else self._link.features

    # --- construction ---------------------------------------------------------------------

    @classmethod
    def from_emulated_bar(
        cls,
        bar: Mmio,
        *,
        name: str | None = None,
        mailbox_timeout: float = DEFAULT_TIMEOUT,
        mailbox_idle: Callable[[], object] | None = None,
        host_interrupts: bool = True,
        present: Callable[[], bool] | None = None,
        event_interval: float = DEFAULT_INTERVAL,
        broken: Callable[[], QatError | None] | None = None,
        relay: RelayedMailbox | None = None,
    ) -> Endpoint:
        """An emulated endpoint from the BAR that holds its whole file.

        Reads and checks the control page (features too), carves the CSR and PMISC
        windows and the DMA pool, sets Memory Space and Bus Master Enable in the emulated
        PCI command register (the device does no DMA before that, as hardware), and
        writes the frontend's epoch (the backend's) and state Initialised.

        Args:
            bar: the mapped BAR (it becomes owned by the endpoint).
            name: how errors name the endpoint.
            mailbox_timeout / mailbox_idle: see :class:`~qathw.transport.mailbox.Mailbox`.
            host_interrupts: the BAR is the file on this host (sysfs ``resource2``, or
                the file itself), so ring interrupts come from the backend process; false
                in a guest, where ivshmem-plain has none.
            present: after a restart, whether the function is back (in sysfs, ready to be
                enabled); default: its registers no longer read all-ones.
            event_interval: seconds between out-of-band looks driven by polls.
            broken: the access path's :meth:`~qathw.pci_access.PciAccess.broken`.
            relay: the broker's relay of a lent VF's mailbox (see :class:`Endpoint`).

        Raises:
            DeviceError: not an emulated endpoint, another layout version, bad windows.
        """
        label = name or bar.name
        try:
            with bar.view(0, emulated.CONTROL_PAGE_SIZE) as page:
                info = emulated.read_control(page, mapped_size=bar.size)
            win = info.windows
            control = bar.window(0, emulated.CONTROL_PAGE_SIZE, name=f"{label} control")
            csr = bar.window(win.csr_offset, win.csr_size, name=f"{label} CSR")
            pmisc = bar.window(win.pmisc_offset, win.pmisc_size, name=f"{label} PMISC")
            pool = WindowDmaPool(
                bar.view(win.devmem_offset, win.devmem_size),
                win.devmem_iova,
                name=f"{label} device memory",
                hint="free buffers, or create the endpoint larger (fakedev create --size)",
            )
            _enable_emulated(control)

            def reopen() -> emulated.ControlInfo | None:
                # The mapping stays: the new function is the same file (device memory too).
                if present is not None and not present():
                    return None
                with bar.view(0, emulated.CONTROL_PAGE_SIZE) as page:
                    return emulated.read_control(page, mapped_size=bar.size)

            return cls(
                name=label,
                kind=info.kind,
                csr=csr,
                pmisc=pmisc,
                dma=pool,
                num_banks=info.num_banks,
                owned=[bar],
                control=control,
                mailbox_timeout=mailbox_timeout,
                mailbox_idle=mailbox_idle,
                interrupts=EmulatedInterrupts(control, label) if host_interrupts else _GUEST_NO_IRQ,
                shared_memory=pool,
                reopen=reopen,
                event_interval=event_interval,
                broken=broken,
                relay=relay if info.kind.is_vf else None,
                opened=info,
            )
        except BaseException:
            bar.close()
            raise

    # --- out of band: device events, restart ------------------------------------------------

    def check_events(self) -> list[PfEvent]:
        """Look at the device now (as qatlib's ``icp_sal_poll_device_events``): PF
        notifications, a function gone after a restart, and its return (reopened here);
        on an emulated endpoint also a new backend or an unannounced restart (reopened
        here too) and the host's suspend request.

        Returns:
            The device events found (RESTARTING, RESTARTED, FATAL_ERROR); a reopen adds
            RESTARTED.
        """
        return self.watch.check()

    def _probe(self) -> int:
        if self._closed or self.pmisc.closed or self.csr.closed:
            return ALL_ONES
        if self.mailbox is not None:
            return self.pmisc.read32(self.layout.pf2vm)
        return self.csr.read32(
            self.layout.bank_offset(0, is_vf=self.kind.is_vf) + self.layout.e_stat
        )

    def _fresh(self) -> bool:
        # A function re-created by the PF starts with Bus Master off (PCI command 0).
        control = self._control
        if control is None or control.closed:
            return False
        command = control.read32(_PCI_COMMAND & ~3) >> 8 * (_PCI_COMMAND % 4)
        return not command & PCI_COMMAND_MASTER

    def _reopen(self) -> bool:
        assert self._reopen_function is not None
        info = self._reopen_function()
        if info is None:
            return False
        link, control = self._link, self._control
        if link is not None:
            if not link.check(info):  # raises EndpointChangedError: another endpoint now
                return False
            link.initialised(info)
        if control is not None:
            _enable_emulated(control)
        if self.mailbox is not None:
            self.mailbox.reset()
        self.connect()  # a lent VF: the broker redoes the handshake with the PF, not us
        if link is not None:
            link.commit(info)  # only now: a handshake that failed is tried again
        return True

    # --- the PF/VF handshake ----------------------------------------------------------------

    def connect(self) -> None:
        """Talk to the PF: version, capabilities, ring-to-service map, then INIT.

        Without a mailbox (a PF, or gen2) there is nothing to ask. A VF the section broker
        lent takes what the broker's one handshake found, and touches no mailbox register.
        An emulated endpoint's frontend state is Connected afterwards.

        Raises:
            MailboxError: the PF does not answer or refuses this VF.
        """
        mb = self.mailbox
        if self.relay is not None:
            facts = self.relay.facts
            self.capabilities = facts.capabilities
            self.services = facts.services
        elif mb is not None:
            version = mb.negotiate()
            if version >= pfvf.COMPAT_CAPABILITIES:
                self.capabilities = mb.capabilities()
            if version >= pfvf.COMPAT_RING_TO_SVC_MAP:
                self.services = mb.ring_service_map()
            mb.init()
        if self._link is not None:
            self._link.connected()

    # --- banks and ring pairs ----------------------------------------------------------------

    def bank(self, number: int) -> Bank:
        """Bank ``number`` (created on first use).

        Raises:
            RingConfigError: no such bank on this endpoint.
        """
        if not 0 <= number < self.num_banks:
            raise RingConfigError(f"{self.name} has banks 0..{self.num_banks - 1}, not {number}")
        bank = self._banks.get(number)
        if bank is None:
            bank = Bank(self.csr, self.layout, number, is_vf=self.kind.is_vf, lock=self._lock)
            self._banks[number] = bank
        return bank

    def request_size(self, bank: int, tx_ring: int | None = None) -> int:
        """Request size of ``tx_ring`` (default: the bank's first) on ``bank``.

        64 on an asym ring, else 128: the service map says which banks are asym (gen4);
        gen2 fixes it by ring number (rings 0 and 1 are asym).
        """
        tx = self.layout.tx_rings[0] if tx_ring is None else tx_ring
        fixed = self.layout.fixed_request_size(tx)
        if fixed is not None:
            return fixed
        if self.services is None:
            return pfvf.BULK_REQUEST_SIZE
        return pfvf.request_size(self.services[bank % len(self.services)])

    def ring_pair(
        self,
        bank: int,
        *,
        slots: int = DEFAULT_SLOTS,
        tx_ring: int | None = None,
        request_size: int | None = None,
        head_write_threshold: int | None = None,
        pool: DmaPool | None = None,
    ) -> RingPair:
        """Create, program and enable a ring pair on ``bank``.

        Args:
            bank: bank number.
            slots: messages per ring.
            tx_ring: request ring (default: the bank's first).
            request_size: bytes per request; from the service map by default.
            head_write_threshold: see :class:`~qathw.transport.ring.RingPair`.
            pool: where the ring memory comes from (default :attr:`dma`; a service
                layer sharing the endpoint passes :meth:`bank_memory`).

        Raises:
            RingConfigError, DmaPoolExhaustedError, MailboxError: see
            :meth:`RingPair.create`.
        """
        unreachable = self.watch.check_path()
        if unreachable is not None:
            raise unreachable
        pair = RingPair.create(
            self.bank(bank),
            pool or self.dma,
            tx_ring=tx_ring,
            slots=slots,
            request_size=request_size or self.request_size(bank, tx_ring),
            mailbox=self.mailbox,
            watch=self.watch.due,
            head_write_threshold=head_write_threshold,
            diagnose=self.device_error,
        )
        if self._link is not None:
            self._link.link(bank)  # programmed: the backend may service the bank now
        self._pairs.append(pair)
        self.watch.add(pair)
        return pair

    def bank_memory(self, bank: int) -> DmaPool:
        """DMA memory for the ring pairs and buffers of ``bank``.

        On an emulated endpoint: the bank's slice of device memory (device memory divided
        evenly among the banks, each slice a multiple of 4 KiB, at a fixed place), so two
        processes holding different banks never collide. Otherwise :attr:`dma`.

        Raises:
            RingConfigError: no such bank.
            DmaError: the slice overlaps memory already allocated from :attr:`dma`.
        """
        self.bank(bank)  # validates the number
        shared = self._shared
        if shared is None:
            return self.dma
        pool = self._bank_pools.get(bank)
        if pool is None:
            size = shared.capacity // self.num_banks // _BANK_SLICE_ALIGN * _BANK_SLICE_ALIGN
            pool = shared.carve(
                bank * size,
                size,
                name=f"{self.name} bank {bank} memory",
                hint=f"each of the {self.num_banks} banks gets {size} bytes of device "
                "memory; create the endpoint larger (fakedev create --size)",
            )
            self._bank_pools[bank] = pool
        return pool

    def interrupt(self, pair: RingPair) -> BankInterrupt:
        """The interrupt of ``pair``'s response ring, as an enabled eventfd (epoll mode).

        Returns:
            The interrupt; the endpoint closes it on :meth:`close` if the caller does not.

        Raises:
            DeviceError: the endpoint has no interrupt path (the hint says what to do).
        """
        fd = self._interrupts.eventfd(pair.bank.number)
        irq = BankInterrupt(pair.bank, pair.rx_ring, fd)
        irq.enable()
        self._irqs.append(irq)
        return irq

    def heartbeat(self) -> int | None:
        """The backend's heartbeat (it counts its steps) of an emulated endpoint; ``None``
        for a real function. One read of plain memory."""
        link = self._link
        if link is None or self._closed or self._control is None or self._control.closed:
            return None
        return link.heartbeat()

    def silence_hint(self, since: int | None = None) -> str | None:
        """What to tell a caller whose request got no answer in time, as far as the
        endpoint can tell; ``None``: nothing known (a real function).

        Args:
            since: :meth:`heartbeat` when the wait began; without it the heartbeat is
                watched for a moment here (about 50 ms: never call this on a data path).
        """
        now = self.heartbeat()
        if now is None:
            return None
        if since is None:
            since = now
            time.sleep(_HEARTBEAT_WAIT)
            now = self.heartbeat()
        if now == since:
            return (
                f"the backend of {self.name} has not stepped while this waited (its "
                "heartbeat stands still): it is not running, or stuck in one request; "
                "'python -m fakedev status <file>' tells, and a backend started on the file "
                "takes over (requests in flight get their replay or their error)"
            )
        if self.watch.suspended:
            return (
                f"the backend runs, but {self.name} is suspended by its host, so requests "
                "wait: 'python -m fakedev resume <file>' ends the suspend"
            )
        if self.watch.state is not WatchState.RUNNING:
            return (
                f"the backend runs, but {self.name} is {self.watch.state.value}: "
                f"{_WATCH_HINTS.get(self.watch.state, 'wait, then look again')}"
            )
        return (
            f"the backend of {self.name} runs (its heartbeat moves) but did not answer in "
            "time: a long request or a busy host; wait longer (timeout=), or see "
            "'python -m fakedev status <file>'"
        )

    def device_error(self) -> str | None:
        """The device's own text for its last error (emulated endpoints keep one)."""
        if self._control is None or self._control.closed:
            return None
        if not self._control.read32(_ERROR_COUNT):
            return None
        with self._control.view(_ERROR_TEXT, emulated.DEVICE_ERROR_LEN) as raw:
            text = emulated.clean_text(raw, emulated.DEVICE_ERROR_LEN)  # guest-writable
        return text or None

    def fakedev_defect(self) -> emulated.Defect | None:
        """The defect record of an emulated endpoint's control page; ``None`` elsewhere.

        fakedev records there where its own code failed on a request (a bug of the fake).
        """
        if self._control is None or self._control.closed:
            return None
        with self._control.view(0, emulated.CONTROL_PAGE_SIZE) as page:
            return emulated.read_defect(page)

    # --- teardown -------------------------------------------------------------------------------

    def close(self) -> None:
        """Close ring pairs, say SHUTDOWN to the PF, release DMA memory and BARs. Idempotent."""
        if self._closed:
            return
        self._closed = True
        for irq in self._irqs:
            irq.close()
        self._irqs.clear()
        for pair in self._pairs:
            pair.close()
        self._pairs.clear()
        if (
            self.mailbox is not None
            and self.mailbox.initialised
            and self.watch.unreachable is None  # nobody answers a BAR that is gone
        ):
            self.mailbox.timeout = min(self.mailbox.timeout, _SHUTDOWN_TIMEOUT)
            try:
                self.mailbox.shutdown()
            except MailboxError:
                pass  # the PF is gone: nothing to tell it
        if self._control is not None and not self._control.closed:
            if self._link is not None:
                self._link.unlink()  # its rings are unprogrammed: not serviced under any epoch
            self._control.write32(_FRONTEND_STATE, emulated.XenbusState.CLOSED)
        for bank in self._banks.values():
            bank.mmio.close()
        self._banks.clear()
        for pool in self._bank_pools.values():
            pool.close()
        self._bank_pools.clear()
        if self._owned:
            self.dma.close()
            for resource in self._owned:
                resource.close()

    def __enter__(self) -> Endpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Endpoint {self.name}: {self.kind.class_name}, {self.num_banks} banks>"


def _enable_emulated(control: Mmio) -> None:
    """Set Memory Space and Bus Master in an emulated function's PCI command register."""
    command = control.read32(_PCI_COMMAND & ~3)
    command |= (PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER) << 8 * (_PCI_COMMAND % 4)
    control.write32(_PCI_COMMAND & ~3, command)


def open_emulated(
    source: str | os.PathLike[str],
    *,
    mailbox_timeout: float = DEFAULT_TIMEOUT,
    mailbox_idle: Callable[[], object] | None = None,
    event_interval: float = DEFAULT_INTERVAL,
) -> Endpoint:
    """Open an emulated endpoint found in a sysfs tree (or, for tests, its file).

    Args:
        source: the ivshmem function's sysfs directory, or the endpoint file.
        mailbox_timeout / mailbox_idle: see :class:`~qathw.transport.mailbox.Mailbox`.
        event_interval: seconds between out-of-band looks driven by polls.

    Returns:
        The endpoint, BARs mapped, Bus Master on; call :meth:`Endpoint.connect` next.

    Raises:
        DeviceError: not an ivshmem function or not an emulated endpoint (with a hint).
        DeviceAccessError: the BAR cannot be mapped.
    """
    bar = map_bar2(source)
    return Endpoint.from_emulated_bar(
        bar,
        name=Path(source).name,
        mailbox_timeout=mailbox_timeout,
        mailbox_idle=mailbox_idle,
        event_interval=event_interval,
    )


DEFAULT_VFIO_DMA_CAPACITY = 64 << 20  # pinned per endpoint at most; qatlib budgets ~16 MiB/VF


def open_endpoint(
    bdf: str,
    *,
    host: HostRoot | None = None,
    dma_capacity: int = DEFAULT_VFIO_DMA_CAPACITY,
    mailbox_timeout: float = DEFAULT_TIMEOUT,
) -> Endpoint:
    """Open the endpoint at ``bdf`` by what the system offers.

    The function is reached through VFIO when it is bound to ``vfio-pci`` and through the
    sysfs ``resourceN`` files otherwise (root). An emulated endpoint (an ivshmem function
    carrying a fakedev file) works either way: its BAR2 holds registers and device memory.
    A real QAT function needs VFIO, because its DMA memory must be mapped into the IOMMU.

    Args:
        bdf: the function's PCI address.
        host: the host root (``$QATHW_SYSFS_ROOT`` or ``/``).
        dma_capacity: most bytes a real device's VFIO DMA pool may pin.
        mailbox_timeout: see :class:`~qathw.transport.mailbox.Mailbox`.

    Returns:
        The endpoint, BARs mapped, memory and bus master on; call :meth:`Endpoint.connect`.

    Raises:
        DeviceNotFoundError: no such function.
        DeviceError: neither a QAT function nor an emulated endpoint; or a real QAT
            function not bound to vfio-pci (the hint says how to bind it).
        VfioError: the VFIO path refused (busy, not viable, permissions, memlock).
    """
    access = open_access(bdf, root=host)
    try:
        vendor_device = access.config_read(PCI_VENDOR_ID, 4)
        vendor, device = vendor_device & 0xFFFF, vendor_device >> 16
        if (vendor, device) == (ids.IVSHMEM_VENDOR_ID, ids.IVSHMEM_DEVICE_ID):
            access.enable_memory()
            bar = access.map_bar(2)
            # Where the kernel delivers the function's own interrupts (VFIO, in a guest),
            # those are all there is, and ivshmem-plain has none. Otherwise the BAR is the
            # backend's file on this host, and the backend hands out the interrupts.
            on_host = not access.delivers_interrupts

            def present() -> bool:
                # On the host the function leaves the (fake) sysfs tree during a restart;
                # the one that comes back is enabled through its own config file (the BAR
                # mapping stays: it is the same file). In a guest the ivshmem function
                # stays; its BAR tells.
                if not on_host:
                    return True
                try:
                    fresh = open_access(bdf, root=host)
                except QatError:
                    return False  # not back yet
                try:
                    fresh.enable_memory()
                finally:
                    fresh.close()
                return True

            endpoint = Endpoint.from_emulated_bar(
                bar,
                name=access.bdf,
                mailbox_timeout=mailbox_timeout,
                host_interrupts=on_host,
                present=present,
                broken=access.broken,
                relay=_relay_of(access),
            )
            endpoint._owned.append(access)
            return endpoint
        kind = ids.lookup(vendor, device)
        if kind is None:
            raise DeviceError(
                f"{access.bdf} ({vendor:04x}:{device:04x}) is not a QAT function or an "
                "emulated QAT endpoint",
                hint="pick a device from 'qathw list'",
            )
        return _open_real(access, kind, dma_capacity, mailbox_timeout)
    except BaseException:
        access.close()
        raise


def _relay_of(access: PciAccess) -> RelayedMailbox | None:
    """The broker's relay of the mailbox of a VF it lent; ``None`` for any other path."""
    if not isinstance(access, LentDevice) or access.pf is None:
        return None
    return RelayedMailbox(access.pf, access.pf_events, access.pf_ack)


def _open_real(
    access: PciAccess, kind: ids.FunctionKind, dma_capacity: int, mailbox_timeout: float
) -> Endpoint:
    pool = access.dma_pool(dma_capacity)
    if pool is None:
        raise DeviceError(
            f"{access.bdf} is a {kind.class_name}, reached here through sysfs: its DMA "
            "memory must be mapped by an IOMMU, which needs VFIO",
            hint=f"bind it to vfio-pci: 'qathw bind {access.bdf} vfio-pci'",
        )
    try:
        if not kind.banks:
            raise DeviceError(f"{access.bdf}: no bank count known for {kind.class_name}")
        access.enable_memory()
        csr = access.map_bar(0)
        pmisc = access.map_bar(2)
        access.enable_bus_master()
    except BaseException:
        pool.close()
        raise
    return Endpoint(
        name=access.bdf,
        kind=kind,
        csr=csr,
        pmisc=pmisc,
        dma=pool,
        num_banks=kind.banks,
        owned=[csr, pmisc, access],
        mailbox_timeout=mailbox_timeout,
        interrupts=VfioInterrupts(access.msi_eventfd),
        broken=access.broken,
        relay=_relay_of(access),
    )
