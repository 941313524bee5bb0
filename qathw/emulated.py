"""Layout of an emulated QAT endpoint: one shared-memory file, layout version 2.

An emulated endpoint is a file whose size is a power of two (QEMU's ivshmem needs that).
On the host it is reached through a fake sysfs tree; in a QEMU guest it is BAR2 of an
``ivshmem-plain`` PCI function (1af4:1110). Either way the same bytes:

====================  =========================================================
offset                content
====================  =========================================================
0                     control page (:class:`qathw_emu_control`, 4 KiB)
``csr_offset``        the ring-CSR BAR ("BAR0"): banks as the generation lays them out
``pmisc_offset``      the PMISC BAR ("BAR2"): the PF/VF mailbox
``devmem_offset``     device memory: the only memory the device can reach by DMA;
                      device address (IOVA) ``devmem_iova + x`` is file offset
                      ``devmem_offset + x``
====================  =========================================================

The driver never computes these offsets: it reads them from the control page and checks
them (:func:`read_control`). The device model (``fakedev``) plans them
(:func:`plan_windows`) and writes the page.

The control page also carries the split-driver handshake: frontend and backend states as
XenbusState numbers (each written by one side only), a backend epoch that changes with
every backend start, and a heartbeat the backend increments while it runs.

Defects. When fakedev's own code fails on a request (a bug of the fake, not a device
outcome), the backend counts it in ``defect_count``, keeps the last one's text in
``defect`` and answers the request with :data:`DEFECT_ERROR_CODE`; a host on an emulated
endpoint reads the record back (:func:`read_defect`) to say where the fake failed.

The split driver's life (layout version 2; docs/split-driver.md). Beside the
two states and the epoch, the backend publishes its *features* (what the endpoint serves:
ring-to-service map, capability word, ring limits) and the PF-agent state that must
outlive a backend process (the VF's negotiated version and INIT), so that a new backend
adopts the endpoint as the old one left it, or refuses a file it cannot serve. The host
tooling asks the frontend to suspend (``suspend_request``); each bank's frontend answers
in its own *bank link*: the epoch it last programmed the bank's rings under (the backend
services a bank only under its own epoch, so a new backend never runs what an old one
left half done) and the suspend request it acknowledged. ``device_resets`` counts device
restarts, which a PF-style endpoint (no mailbox to announce them) is seen to have by it.

Compatibility. Fields added in what was reserved space keep the layout version: a file
created before they existed holds zeros there, which reads as "nothing recorded", and an
older reader never looks at them. Moving or resizing a field, or giving zeros a new
meaning, needs a new version: a file of another version is refused with a hint.
"""

from __future__ import annotations

import ctypes
import enum
from dataclasses import dataclass

from qathw import ids
from qathw.errors import DeviceError

EMU_MAGIC = b"QATHWEMU"
EMU_LAYOUT_VERSION = 2
CONTROL_PAGE_SIZE = 0x1000
WINDOW_ALIGN = 0x1000  # every window starts on a page, so it can be mmapped on its own
DEFAULT_DEVMEM_IOVA = 0x10_0000_0000  # above 4 GiB on purpose: UBASE and 64-bit fields matter
DEVICE_ERROR_LEN = 120
DEFECT_TEXT_LEN = 248  # the last defect's text, NUL-padded; at most 247 characters kept

# The error code (response bytes 4 and 5, signed) of a request fakedev failed on. Firmware
# codes run from 0 down to -50 (docs/hardware.md#response, qatlib's list being
# the longest) and an LA response leaves byte 4 reserved, so no device answers with -128
# in both bytes; the service's status bit is set too, so a host that does not know the
# code still sees an error rather than a success.
DEFECT_ERROR_CODE = -128


class XenbusState(enum.IntEnum):
    """Connection states, numbered as Xen's ``xenbus.h`` numbers them."""

    UNKNOWN = 0
    INITIALISING = 1
    INIT_WAIT = 2
    INITIALISED = 3
    CONNECTED = 4
    CLOSING = 5
    CLOSED = 6
    RECONFIGURING = 7
    RECONFIGURED = 8


#: Where the device's own counters start in the control page, and how many banks they
#: cover (every bank of every emulated kind: a 4xxx PF has 64; gen2 VFs have 1).
COUNTERS_OFFSET = 0x800
MAX_COUNTED_BANKS = 64
#: Where the bank links start (one per bank, as many as counted banks).
LINKS_OFFSET = 0x400


class Feature(enum.IntFlag):
    """Bits of ``qathw_emu_features.flags``: what this backend's protocol offers."""

    BANK_LINKS = 1 << 0  # a bank is serviced only once linked under the current epoch
    SUSPEND = 1 << 1  # the backend's host tooling may ask the frontend to suspend
    DEVICE_RESETS = 1 << 2  # device_resets counts restarts (PF-style endpoints too)


class qathw_emu_features(ctypes.LittleEndianStructure):
    """What the backend serves (backend; 32 bytes), published before InitWait.

    A new backend on a file that holds features compares its own with them: the same
    endpoint, or a clear refusal. Zeros: no backend has published any yet.
    """

    _fields_ = [
        ("flags", ctypes.c_uint32),  # Feature bits
        ("ring_service_map", ctypes.c_uint32),  # the PF's map as a gen4 VF reads it; 0: none
        ("capabilities", ctypes.c_uint32),  # the capability word (qathw.transport.pfvf)
        ("min_ring_bytes", ctypes.c_uint32),  # smallest ring the device accepts
        ("max_ring_bytes", ctypes.c_uint32),  # largest ring the device accepts
        ("reserved", ctypes.c_uint32 * 3),
    ]


class qathw_emu_pf_state(ctypes.LittleEndianStructure):
    """The PF agent's memory of the VF, kept by the backend across processes (8 bytes)."""

    _fields_ = [
        ("vf_compat", ctypes.c_uint8),  # the version the VF negotiated (0: none yet)
        ("vf_init", ctypes.c_uint8),  # 1 once the VF sent INIT, 0 after SHUTDOWN
        ("reserved", ctypes.c_uint8 * 6),
    ]


class qathw_emu_bank_link(ctypes.LittleEndianStructure):
    """One bank's frontend (frontend; 16 bytes): the epoch it programmed the bank's rings
    under (0: none) and the last suspend request it acknowledged."""

    _fields_ = [
        ("epoch", ctypes.c_uint64),
        ("suspend_ack", ctypes.c_uint32),
        ("reserved", ctypes.c_uint32),
    ]


_NO_FEATURES = Feature(0)
_KNOWN_FEATURES = int(Feature.BANK_LINKS | Feature.SUSPEND | Feature.DEVICE_RESETS)
LINKS_END = LINKS_OFFSET + ctypes.sizeof(qathw_emu_bank_link) * MAX_COUNTED_BANKS


class qathw_emu_bank_counters(ctypes.LittleEndianStructure):
    """What the device did on one bank since the file was created (backend; 24 bytes).

    Cumulative 64-bit counters that wrap, written only by the device model; a bank reset
    or a device restart does not clear them (they count the device's work, as a
    firmware counter does, not the state of a ring).
    """

    _fields_ = [
        ("requests", ctypes.c_uint64),  # requests taken off the bank's request rings
        ("request_bytes", ctypes.c_uint64),  # bytes of those request messages
        ("response_bytes", ctypes.c_uint64),  # bytes of the responses written back
    ]


COUNTERS_END = COUNTERS_OFFSET + ctypes.sizeof(qathw_emu_bank_counters) * MAX_COUNTED_BANKS


class qathw_emu_control(ctypes.LittleEndianStructure):
    """The control page at offset 0 of an emulated endpoint (4096 bytes).

    Written by the device model when it creates the file, except the fields marked
    "frontend" (written by the driver) and "backend" (written by the running device model).
    """

    _fields_ = [
        ("magic", ctypes.c_char * 8),  # EMU_MAGIC
        ("layout_version", ctypes.c_uint32),  # EMU_LAYOUT_VERSION
        ("control_size", ctypes.c_uint32),  # CONTROL_PAGE_SIZE
        ("total_size", ctypes.c_uint64),  # size of the whole file
        ("vendor_id", ctypes.c_uint16),  # emulated PCI identity
        ("device_id", ctypes.c_uint16),
        ("subsystem_vendor_id", ctypes.c_uint16),
        ("subsystem_id", ctypes.c_uint16),
        ("revision", ctypes.c_uint8),
        ("generation", ctypes.c_uint8),  # ids.Generation
        ("is_vf", ctypes.c_uint8),
        ("reserved0", ctypes.c_uint8),
        ("num_banks", ctypes.c_uint16),
        ("rings_per_bank", ctypes.c_uint16),
        ("csr_offset", ctypes.c_uint64),  # ring-CSR BAR window
        ("csr_size", ctypes.c_uint64),
        ("pmisc_offset", ctypes.c_uint64),  # PMISC BAR window
        ("pmisc_size", ctypes.c_uint64),
        ("devmem_offset", ctypes.c_uint64),  # device memory window
        ("devmem_size", ctypes.c_uint64),
        ("devmem_iova", ctypes.c_uint64),  # device address of devmem_offset
        ("frontend_state", ctypes.c_uint32),  # frontend: XenbusState
        ("backend_state", ctypes.c_uint32),  # backend: XenbusState
        ("backend_epoch", ctypes.c_uint64),  # backend: new value at each start
        ("backend_heartbeat", ctypes.c_uint64),  # backend: increments while running
        ("backend_pid", ctypes.c_uint32),  # backend: pid of the serving process, 0 if none
        # The frontend mirrors its PCI_COMMAND bits (qathw.pci_regs) here: the backend
        # cannot see the real (ivshmem) function's config space.
        ("pci_command", ctypes.c_uint16),
        ("reserved1", ctypes.c_uint16),
        ("device_error_count", ctypes.c_uint32),  # backend: loud device errors so far
        ("reserved2", ctypes.c_uint32),
        ("device_error", ctypes.c_char * DEVICE_ERROR_LEN),  # backend: the last one, text
        ("defect_count", ctypes.c_uint32),  # backend: fakedev defects (bugs of the fake) so far
        ("reserved3", ctypes.c_uint32),
        ("defect", ctypes.c_char * DEFECT_TEXT_LEN),  # backend: the last one, text (ASCII)
        # --- layout version 2: the split driver's life ---
        ("features", qathw_emu_features),  # backend: what it serves (before InitWait)
        ("pf_state", qathw_emu_pf_state),  # backend: the PF agent's memory of the VF
        ("device_resets", ctypes.c_uint32),  # backend: device restarts so far
        ("suspend_request", ctypes.c_uint32),  # host tooling: nonzero asks to suspend
        ("frontend_epoch", ctypes.c_uint64),  # frontend: epoch of its last handshake
        ("reserved4", ctypes.c_uint8 * (LINKS_OFFSET - 568)),
        # frontend: per bank, the epoch its rings run under and the suspend it acknowledged
        ("bank_links", qathw_emu_bank_link * MAX_COUNTED_BANKS),
        # backend: what the device has done, per bank (docs/hardware.md#fake-counters)
        ("bank_counters", qathw_emu_bank_counters * MAX_COUNTED_BANKS),
        ("reserved5", ctypes.c_uint8 * (CONTROL_PAGE_SIZE - COUNTERS_END)),
    ]


@dataclass(frozen=True)
class Windows:
    """Where the BAR windows and device memory sit in an emulated endpoint's file."""

    total_size: int
    csr_offset: int
    csr_size: int
    pmisc_offset: int
    pmisc_size: int
    devmem_offset: int
    devmem_size: int
    devmem_iova: int = DEFAULT_DEVMEM_IOVA


@dataclass(frozen=True)
class ControlInfo:
    """What the driver reads from a control page: identity, windows, handshake state."""

    kind: ids.FunctionKind
    vendor_id: int
    device_id: int
    revision: int
    num_banks: int
    rings_per_bank: int
    windows: Windows
    frontend_state: XenbusState
    backend_state: XenbusState
    backend_epoch: int
    backend_pid: int
    features: Features
    device_resets: int = 0
    suspend_request: int = 0
    frontend_epoch: int = 0


@dataclass(frozen=True)
class Features:
    """A backend's published features (:class:`qathw_emu_features`); all zero: none yet."""

    flags: Feature = _NO_FEATURES
    ring_service_map: int = 0
    capabilities: int = 0
    min_ring_bytes: int = 0
    max_ring_bytes: int = 0

    @property
    def published(self) -> bool:
        return bool(self.flags)


@dataclass(frozen=True)
class Defect:
    """The defect record of a control page.

    Attributes:
        count: defects the backend has recorded (0: none).
        text: the last one, ``module:function:line: Type: message``, cleaned by
            :func:`clean_text` ("" when none).
    """

    count: int
    text: str


@dataclass(frozen=True)
class BankCounters:
    """One bank's counters as read from a control page (:class:`qathw_emu_bank_counters`)."""

    bank: int
    requests: int
    request_bytes: int
    response_bytes: int


def read_counters(buf: bytes | bytearray | memoryview, num_banks: int) -> tuple[BankCounters, ...]:
    """The device's per-bank counters in the control page at the start of ``buf``.

    Args:
        buf: at least the control page (a mapping or a copy).
        num_banks: the endpoint's bank count (from :func:`read_control`); banks past
            :data:`MAX_COUNTED_BANKS` are not counted.

    Returns:
        One record per counted bank, bank 0 first.

    Raises:
        ValueError: ``buf`` is shorter than the counters.
    """
    if len(buf) < COUNTERS_END:
        raise ValueError(f"a control page's counters need {COUNTERS_END} bytes, got {len(buf)}")
    size = ctypes.sizeof(qathw_emu_bank_counters)
    out = []
    for bank in range(min(num_banks, MAX_COUNTED_BANKS)):
        at = COUNTERS_OFFSET + bank * size
        c = qathw_emu_bank_counters.from_buffer_copy(bytes(buf[at : at + size]))
        out.append(BankCounters(bank, c.requests, c.request_bytes, c.response_bytes))
    return tuple(out)


LINK_SIZE = ctypes.sizeof(qathw_emu_bank_link)


def link_offset(bank: int) -> int:
    """Where bank ``bank``'s link (:class:`qathw_emu_bank_link`) starts in the control page.

    Its fields follow the structure: the 64-bit epoch at ``link_offset(bank) +
    qathw_emu_bank_link.epoch.offset`` and the 32-bit suspend acknowledgement at
    ``link_offset(bank) + qathw_emu_bank_link.suspend_ack.offset``.

    Args:
        bank: the bank, ``0 <= bank <`` :data:`MAX_COUNTED_BANKS`.

    Returns:
        The byte offset from the start of the control page.

    Raises:
        ValueError: no link exists for ``bank``.
    """
    if not 0 <= bank < MAX_COUNTED_BANKS:
        raise ValueError(f"bank {bank} has no link; links cover banks 0..{MAX_COUNTED_BANKS - 1}")
    return LINKS_OFFSET + bank * LINK_SIZE


@dataclass(frozen=True)
class BankLink:
    """One bank's link as read from a control page (:class:`qathw_emu_bank_link`).

    Written by the frontend, so any value at all: a reader only compares them.
    """

    bank: int
    epoch: int
    suspend_ack: int


def read_links(buf: bytes | bytearray | memoryview, num_banks: int) -> tuple[BankLink, ...]:
    """The bank links in the control page at the start of ``buf``.

    Args:
        buf: at least the control page's first :data:`LINKS_END` bytes.
        num_banks: the endpoint's bank count; banks past :data:`MAX_COUNTED_BANKS` have
            no link.

    Returns:
        One record per bank that has a link, bank 0 first.

    Raises:
        ValueError: ``buf`` is shorter than the links.
    """
    if len(buf) < LINKS_END:
        raise ValueError(f"a control page's bank links need {LINKS_END} bytes, got {len(buf)}")
    out = []
    for bank in range(min(num_banks, MAX_COUNTED_BANKS)):
        at = link_offset(bank)
        link = qathw_emu_bank_link.from_buffer_copy(bytes(buf[at : at + LINK_SIZE]))
        out.append(BankLink(bank, link.epoch, link.suspend_ack))
    return tuple(out)


def _round_up(value: int, align: int) -> int:
    return (value + align - 1) // align * align


def plan_windows(
    csr_size: int,
    pmisc_size: int,
    total_size: int,
    devmem_iova: int = DEFAULT_DEVMEM_IOVA,
) -> Windows:
    """Lay out the windows of a new emulated endpoint.

    The CSR window is aligned to its own (power-of-two rounded) size so that ring-CSR
    offsets stay aligned as on hardware; device memory takes everything after PMISC.

    Args:
        csr_size: bytes of the ring-CSR BAR (banks as the generation lays them out).
        pmisc_size: bytes of the PMISC BAR.
        total_size: size of the whole file; a power of two (ivshmem requires it).
        devmem_iova: device address of the first device-memory byte.

    Returns:
        The planned windows.

    Raises:
        ValueError: ``total_size`` is not a power of two, or too small for the windows.
    """
    if total_size <= 0 or total_size & (total_size - 1):
        raise ValueError(f"total size {total_size:#x} is not a power of two (ivshmem needs one)")
    if csr_size <= 0 or pmisc_size <= 0:
        raise ValueError("window sizes must be positive")
    csr_align = max(WINDOW_ALIGN, 1 << (csr_size - 1).bit_length())
    csr_offset = _round_up(CONTROL_PAGE_SIZE, csr_align)
    pmisc_offset = _round_up(csr_offset + csr_size, WINDOW_ALIGN)
    devmem_offset = _round_up(pmisc_offset + pmisc_size, WINDOW_ALIGN)
    if devmem_offset >= total_size:
        need = 1 << devmem_offset.bit_length()
        raise ValueError(
            f"total size {total_size:#x} leaves no device memory; use at least {need:#x}"
        )
    return Windows(
        total_size=total_size,
        csr_offset=csr_offset,
        csr_size=_round_up(csr_size, WINDOW_ALIGN),
        pmisc_offset=pmisc_offset,
        pmisc_size=_round_up(pmisc_size, WINDOW_ALIGN),
        devmem_offset=devmem_offset,
        devmem_size=total_size - devmem_offset,
        devmem_iova=devmem_iova,
    )


def has_magic(buf: bytes | bytearray | memoryview) -> bool:
    """True when ``buf`` begins with an emulated endpoint's magic."""
    return bytes(buf[: len(EMU_MAGIC)]) == EMU_MAGIC


def clean_text(raw: bytes | bytearray | memoryview, limit: int) -> str:
    """Text from a control-page field, safe to print: the other side may be hostile.

    Args:
        raw: the field's bytes; the text ends at the first NUL, if there is one.
        limit: the most characters kept.

    Returns:
        At most ``limit`` characters of printable ASCII; every other byte becomes ``?``.
    """
    text = bytes(raw[:limit]).split(b"\0", 1)[0]
    return "".join(chr(b) if 0x20 <= b < 0x7F else "?" for b in text)


_DEFECT_COUNT = qathw_emu_control.defect_count.offset
_DEFECT_TEXT = qathw_emu_control.defect.offset


def read_defect(buf: bytes | bytearray | memoryview) -> Defect:
    """The defect record of the control page at the start of ``buf``.

    Args:
        buf: at least the control page's first 512 bytes (a mapping or a copy).

    Returns:
        The count and the last defect's text, cleaned (:func:`clean_text`).

    Raises:
        ValueError: ``buf`` is too short to hold the record.
    """
    end = _DEFECT_TEXT + DEFECT_TEXT_LEN
    if len(buf) < end:
        raise ValueError(f"a control page's defect record needs {end} bytes, got {len(buf)}")
    count = int.from_bytes(bytes(buf[_DEFECT_COUNT : _DEFECT_COUNT + 4]), "little")
    text = clean_text(buf[_DEFECT_TEXT:end], DEFECT_TEXT_LEN - 1)
    return Defect(count=count, text=text)


def read_control(
    buf: bytes | bytearray | memoryview, *, mapped_size: int | None = None
) -> ControlInfo:
    """Read and check the control page at the start of ``buf``.

    Args:
        buf: at least the first 4 KiB of the endpoint's memory.
        mapped_size: how many bytes of the endpoint are mapped; windows must lie inside.
            Defaults to the control page's own ``total_size``.

    Returns:
        The endpoint's identity, windows and handshake state.

    Raises:
        DeviceError: not an emulated endpoint, another layout version, or windows that
            do not fit (each with a hint).
    """
    if len(buf) < CONTROL_PAGE_SIZE:
        raise DeviceError(
            f"emulated endpoint control page is short ({len(buf)} bytes, need {CONTROL_PAGE_SIZE})",
            hint="map at least the first 4 KiB of the shared memory",
        )
    raw = bytes(buf[:CONTROL_PAGE_SIZE])
    page = qathw_emu_control.from_buffer_copy(raw)
    if page.magic != EMU_MAGIC:
        raise DeviceError(
            "not an emulated QAT endpoint (no QATHWEMU magic)",
            hint="create the endpoint with 'python -m fakedev create' or check the file path",
        )
    if page.layout_version != EMU_LAYOUT_VERSION:
        raise DeviceError(
            f"emulated endpoint layout version {page.layout_version}, this qathw reads "
            f"version {EMU_LAYOUT_VERSION}",
            hint="recreate it with this qathw's fakedev: 'python -m fakedev create PATH --force' "
            "(the file's state is lost; stop its backend first)",
        )
    kind = ids.lookup(page.vendor_id, page.device_id)
    if kind is None:
        raise DeviceError(
            f"emulated endpoint claims PCI id {page.vendor_id:04x}:{page.device_id:04x}, "
            "which is not a QAT function",
            hint="recreate the endpoint with a QAT device id",
        )
    win = Windows(
        total_size=page.total_size,
        csr_offset=page.csr_offset,
        csr_size=page.csr_size,
        pmisc_offset=page.pmisc_offset,
        pmisc_size=page.pmisc_size,
        devmem_offset=page.devmem_offset,
        devmem_size=page.devmem_size,
        devmem_iova=page.devmem_iova,
    )
    limit = win.total_size if mapped_size is None else min(mapped_size, win.total_size)
    spans = [
        ("CSR", win.csr_offset, win.csr_size),
        ("PMISC", win.pmisc_offset, win.pmisc_size),
        ("device memory", win.devmem_offset, win.devmem_size),
    ]
    end_prev = CONTROL_PAGE_SIZE
    for name, off, size in spans:
        if off < end_prev or size <= 0 or off + size > limit or off % WINDOW_ALIGN:
            raise DeviceError(
                f"emulated endpoint {name} window [{off:#x}, {off + size:#x}) does not fit "
                f"a mapping of {limit:#x} bytes",
                hint="the shared-memory file is truncated or corrupt; recreate it",
            )
        end_prev = off + size
    return ControlInfo(
        kind=kind,
        vendor_id=page.vendor_id,
        device_id=page.device_id,
        revision=page.revision,
        num_banks=page.num_banks,
        rings_per_bank=page.rings_per_bank,
        windows=win,
        frontend_state=_state(page.frontend_state),
        backend_state=_state(page.backend_state),
        backend_epoch=page.backend_epoch,
        backend_pid=page.backend_pid,
        features=Features(
            flags=Feature(page.features.flags & _KNOWN_FEATURES),
            ring_service_map=page.features.ring_service_map,
            capabilities=page.features.capabilities,
            min_ring_bytes=page.features.min_ring_bytes,
            max_ring_bytes=page.features.max_ring_bytes,
        ),
        device_resets=page.device_resets,
        suspend_request=page.suspend_request,
        frontend_epoch=page.frontend_epoch,
    )


def _state(value: int) -> XenbusState:
    try:
        return XenbusState(value)
    except ValueError:
        return XenbusState.UNKNOWN
