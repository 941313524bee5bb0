"""Ring-CSR layouts per generation, as data, and the arithmetic of ring sizes and bases.

Everything here is a number from the tables of docs/hardware.md (#ring-csrs,
#ring-config, #pfvf-mailbox) or a small pure function over such numbers; nothing
touches a register. :mod:`qathw.transport.bank` drives the registers with it, and
``fakedev`` emulates them from the same table, which is why the table is pinned by tests
against the published offsets rather than against itself.

Addresses: a per-ring register of ring *r* in bank *b* is at
``etr_offset + b * bank_stride + register + 4 * r`` in the ring-CSR BAR; a bank register
omits the ``4 * r``. All CSRs are 32-bit.

The gen4 trap (docs/hardware.md#ring-csrs): CONFIG, LBASE and UBASE move up by 0x1000, while HEAD,
TAIL and the bank registers keep their gen2 offsets.
"""

from __future__ import annotations

from dataclasses import dataclass

from qathw.errors import RingConfigError
from qathw.fw.common import ASYM_REQ_SZ, REQ_DEFAULT_SZ, RESP_DEFAULT_SZ
from qathw.ids import Generation

# --- ring sizes (docs/hardware.md#ring-config) -----------------------------------------

RING_SIZE_CODE_MIN = 0x01  # ADF_MIN_RING_SIZE: 128 bytes (qatlib also knows 0x00 = 64 bytes)
RING_SIZE_CODE_MAX = 0x10  # ADF_MAX_RING_SIZE: 4 MiB
RING_SIZE_CODE_DEFAULT = 0x08  # 16 KiB
RING_CONFIG_SIZE_MASK = 0x1F  # bits [4:0]
RING_CONFIG_NEAR_EMPTY_WM_SHIFT = 5
RING_CONFIG_NEAR_FULL_WM_SHIFT = 10
RING_NEAR_WATERMARK_512 = 0x08  # near-full watermark of response rings (512 bytes)

# Every gen: response rings hold messages of the firmware's response size (the PF programs
# the arbiter so).
RESPONSE_SIZE = RESP_DEFAULT_SZ
HEAD_WRITE_THRESHOLD = 32  # QAT_CSR_HEAD_WRITE_THRESH / MIN_RESPONSES_PER_HEAD_WRITE

# gen2 has no ring-to-service map: a VF's request rings serve fixed services, asym (64-byte
# requests) on rings 0 and 1, bulk services on the others (DPDK ``qat_gen1_qps``).
GEN2_ASYM_TX_RINGS = (0, 1)

# --- interrupt coalescing (docs/hardware.md#interrupts) ---------------------------------

INT_COL_CTL_ENABLE = 0x8000_0000  # bit 31: coalescing on (ETR_CSR_INTR_COL_CTL_ENABLE)
INT_COL_CTL_DELCNT_MASK = 0xFFFF  # bits 15:0: the delay count (ICP_INT_COL_CTL_DELCNT_MASK)
INT_COL_CTL_NS_PER_COUNT = 256  # 256 CPP cycles of an assumed 1 GHz clock per count
INT_COL_DEFAULT_TIMER_NS = 10_000  # qatlib's ICP_INT_COL_DEFAULT_TIMER_NS


def int_col_ctl(timer_ns: int) -> int:
    """The INT_COL_CTL value for a coalescing delay of ``timer_ns`` (qatlib's arithmetic).

    Args:
        timer_ns: nanoseconds; 0 turns coalescing off (an interrupt per response).

    Returns:
        0, or bit 31 with the delay count, clamped to 1..0xFFFF as qatlib clamps it.
    """
    if timer_ns <= 0:
        return 0
    count = min(max(timer_ns // INT_COL_CTL_NS_PER_COUNT, 1), INT_COL_CTL_DELCNT_MASK)
    return INT_COL_CTL_ENABLE | count


def coalescing_delay_ns(value: int) -> int | None:
    """How long the device holds a ring's interrupt for INT_COL_CTL ``value``.

    Returns:
        ``None`` when coalescing is off (bit 31 clear: every response interrupts at
        once), else the delay in nanoseconds.
    """
    if not value & INT_COL_CTL_ENABLE:
        return None
    return (value & INT_COL_CTL_DELCNT_MASK) * INT_COL_CTL_NS_PER_COUNT


def ring_bytes(code: int) -> int:
    """Bytes of a ring with size code ``code``: ``64 << code``."""
    return 64 << code


def ring_size_code(nbytes: int) -> int:
    """The size code of a ring of exactly ``nbytes`` bytes.

    Args:
        nbytes: ring size; a power of two from 128 bytes to 4 MiB.

    Returns:
        The code for RING_CONFIG bits [4:0].

    Raises:
        RingConfigError: ``nbytes`` is not one of the sizes the hardware knows.
    """
    for code in range(RING_SIZE_CODE_MIN, RING_SIZE_CODE_MAX + 1):
        if ring_bytes(code) == nbytes:
            return code
    raise RingConfigError(
        f"a ring of {nbytes} bytes is not a size the hardware knows",
        hint=(
            f"slots x message size must be a power of two from {ring_bytes(RING_SIZE_CODE_MIN)}"
            f" to {ring_bytes(RING_SIZE_CODE_MAX)} bytes"
        ),
    )


def ring_config(code: int, *, response: bool) -> int:
    """The RING_CONFIG value of a request (``response=False``) or response ring.

    Request rings carry only the size code; response rings add the 512-byte near-full
    watermark (``BUILD_RING_CONFIG`` / ``BUILD_RESP_RING_CONFIG``).
    """
    if not RING_SIZE_CODE_MIN <= code <= RING_SIZE_CODE_MAX:
        raise RingConfigError(f"ring size code {code:#x} is out of range")
    if response:
        return (RING_NEAR_WATERMARK_512 << RING_CONFIG_NEAR_FULL_WM_SHIFT) | code
    return code


def config_size_code(config: int) -> int:
    """The size code in a RING_CONFIG value."""
    return config & RING_CONFIG_SIZE_MASK


def max_in_flight(ring_nbytes: int, msg_size: int) -> int:
    """``ADF_MAX_INFLIGHTS``: slots - 1, so that a full ring never looks empty."""
    return ring_nbytes // msg_size - 1


# --- the per-generation table ----------------------------------------------------------


@dataclass(frozen=True)
class CsrLayout:
    """Ring-CSR and PMISC offsets of one generation (docs/hardware.md#ring-csrs, #pfvf-mailbox).

    Per-ring registers (add ``4 * ring``): ``ring_config``, ``ring_lbase``,
    ``ring_ubase``, ``ring_head``, ``ring_tail``. Bank registers: the rest. ``None`` means
    the generation has no such register.

    Attributes:
        generation: the hardware generation.
        bank_stride: bytes between banks (``ADF_RING_BUNDLE_SIZE``).
        rings_per_bank: rings in one bank, request and response together.
        tx_rings_mask: which rings of a bank are request (TX) rings.
        rx_ring_offset: the response ring of TX ring *t* is ``t + rx_ring_offset``.
        etr_offset_vf / etr_offset_pf: where bank 0 starts in the ring-CSR BAR of a
            VF / of a PF (gen4 PF: 0x100000 inside BAR0).
        base_in_64b_units: gen2 writes the ring base in 64-byte units; gen4 writes the
            byte address (both with the low bits below the ring size cleared).
        pmisc_size: bytes of the PMISC window an emulated endpoint provides.
        pf2vm / vm2pf / vintmsk_pf2vm: PF/VF mailbox registers in PMISC (VF view);
            gen2 has one shared register (``pf2vm == vm2pf``), which qathw does not drive.
    """

    generation: Generation
    bank_stride: int
    rings_per_bank: int
    tx_rings_mask: int
    rx_ring_offset: int
    etr_offset_vf: int
    etr_offset_pf: int
    base_in_64b_units: bool
    ring_config: int
    ring_lbase: int
    ring_ubase: int
    ring_head: int
    ring_tail: int
    e_stat: int
    ring_srv_arb_en: int
    int_flag: int
    int_srcsel: int
    int_col_en: int
    int_col_ctl: int
    int_flag_and_col: int
    stat: int | None
    uo_stat: int | None
    ne_stat: int | None
    nf_stat: int | None
    f_stat: int | None
    c_stat: int | None
    int_flag_en: int | None
    int_srcsel_2: int | None
    exp_stat: int | None
    exp_int_en: int | None
    pmisc_size: int
    pf2vm: int
    vm2pf: int
    vintmsk_pf2vm: int | None

    # --- rings of a bank -------------------------------------------------------------

    @property
    def tx_rings(self) -> tuple[int, ...]:
        """The request rings of a bank, in order."""
        return tuple(r for r in range(self.rings_per_bank) if self.tx_rings_mask >> r & 1)

    def rx_ring_of(self, tx_ring: int) -> int:
        """The response ring paired with request ring ``tx_ring``.

        Raises:
            RingConfigError: ``tx_ring`` is not a request ring of this generation.
        """
        if not (0 <= tx_ring < self.rings_per_bank and self.tx_rings_mask >> tx_ring & 1):
            raise RingConfigError(
                f"ring {tx_ring} is not a request ring on {self.generation.traits.label}",
                hint=f"request rings are {', '.join(map(str, self.tx_rings))}",
            )
        return tx_ring + self.rx_ring_offset

    # --- addresses -------------------------------------------------------------------

    def etr_offset(self, *, is_vf: bool) -> int:
        """Where bank 0 starts in the ring-CSR BAR."""
        return self.etr_offset_vf if is_vf else self.etr_offset_pf

    def csr_bar_size(self, banks: int, *, is_vf: bool) -> int:
        """Bytes of ring-CSR BAR needed for ``banks`` banks."""
        return self.etr_offset(is_vf=is_vf) + banks * self.bank_stride

    def bank_offset(self, bank: int, *, is_vf: bool) -> int:
        """Offset of bank ``bank`` in the ring-CSR BAR."""
        return self.etr_offset(is_vf=is_vf) + bank * self.bank_stride

    # --- ring base encoding (docs/hardware.md#ring-config) ---------------------------

    def encode_base(self, iova: int, code: int) -> int:
        """The 64-bit LBASE/UBASE value for a ring at ``iova`` with size code ``code``.

        Raises:
            RingConfigError: ``iova`` is not aligned to the ring's size.
        """
        size = ring_bytes(code)
        if iova % size:
            raise RingConfigError(
                f"ring base {iova:#x} is not aligned to the ring size {size:#x}",
                hint="allocate ring memory aligned to its own size",
            )
        value = (iova >> 6) & ~((1 << code) - 1)
        return value if self.base_in_64b_units else value << 6

    def decode_base(self, value: int, code: int) -> tuple[int, bool]:
        """The IOVA a device reads from a base value, and whether it was aligned.

        Returns:
            ``(iova, aligned)``; hardware would silently mask an unaligned base, a
            faithful fake reports it instead.
        """
        if self.base_in_64b_units:
            return value << 6, value & ((1 << code) - 1) == 0
        return value, value & (ring_bytes(code) - 1) == 0

    def fixed_request_size(self, tx_ring: int) -> int | None:
        """Request size of ``tx_ring`` where the generation fixes it by ring number.

        Returns:
            64 or 128 on gen2 (no ring-to-service map: rings 0 and 1 are asym); ``None``
            where a ring-to-service map decides per bank (gen4).
        """
        if self.generation.traits.ring_service_map:
            return None
        return ASYM_REQ_SZ if tx_ring in GEN2_ASYM_TX_RINGS else REQ_DEFAULT_SZ


# fmt: off
GEN2 = CsrLayout(
    generation=Generation.GEN2, bank_stride=0x1000, rings_per_bank=16,
    tx_rings_mask=0x00FF, rx_ring_offset=8, etr_offset_vf=0, etr_offset_pf=0,
    base_in_64b_units=True,
    ring_config=0x000, ring_lbase=0x040, ring_ubase=0x080, ring_head=0x0C0,
    ring_tail=0x100, e_stat=0x14C, ring_srv_arb_en=0x19C, int_flag=0x170,
    int_srcsel=0x174, int_col_en=0x17C, int_col_ctl=0x180, int_flag_and_col=0x184,
    stat=None, uo_stat=None, ne_stat=None, nf_stat=None, f_stat=None, c_stat=None,
    int_flag_en=None, int_srcsel_2=0x178, exp_stat=None, exp_int_en=None,
    pmisc_size=0x1000, pf2vm=0x200, vm2pf=0x200, vintmsk_pf2vm=None,
)

GEN4 = CsrLayout(
    generation=Generation.GEN4, bank_stride=0x2000, rings_per_bank=2,
    tx_rings_mask=0x1, rx_ring_offset=1, etr_offset_vf=0, etr_offset_pf=0x100000,
    base_in_64b_units=False,
    ring_config=0x1000, ring_lbase=0x1040, ring_ubase=0x1080, ring_head=0x0C0,
    ring_tail=0x100, e_stat=0x14C, ring_srv_arb_en=0x19C, int_flag=0x170,
    int_srcsel=0x174, int_col_en=0x17C, int_col_ctl=0x180, int_flag_and_col=0x184,
    stat=0x140, uo_stat=0x148, ne_stat=0x150, nf_stat=0x154, f_stat=0x158, c_stat=0x15C,
    int_flag_en=0x16C, int_srcsel_2=None, exp_stat=0x188, exp_int_en=0x18C,
    pmisc_size=0x2000, pf2vm=0x1008, vm2pf=0x100C, vintmsk_pf2vm=0x1004,
)
# fmt: on

LAYOUTS: dict[Generation, CsrLayout] = {Generation.GEN2: GEN2, Generation.GEN4: GEN4}


def layout_for(generation: Generation | int) -> CsrLayout:
    """The CSR layout of ``generation``.

    Raises:
        RingConfigError: qathw has no ring-CSR table for that generation.
    """
    try:
        return LAYOUTS[Generation(generation)]
    except (KeyError, ValueError):
        known = ", ".join(g.traits.label for g in LAYOUTS)
        raise RingConfigError(
            f"no ring-CSR layout for generation {int(generation)}",
            hint=f"qathw drives {known} ring CSRs",
        ) from None
