"""One bank (bundle) of rings: its CSR window, arbitration enable, and status registers."""

from __future__ import annotations

import threading

from qathw.mmio import Mmio
from qathw.transport.csr import CsrLayout


class Bank:
    """The registers of bank ``number`` of an endpoint.

    Args:
        csr_bar: the ring-CSR BAR (the whole BAR; the bank's window is carved from it).
        layout: the generation's CSR layout.
        number: bank number.
        is_vf: whether banks start at the VF or the PF offset.
        lock: serialises RING_SRV_ARB_EN read-modify-writes between the bank's ring
            pairs (DPDK takes a lock for the same reason).

    Raises:
        MmioError: the BAR is too small for this bank.
    """

    def __init__(
        self,
        csr_bar: Mmio,
        layout: CsrLayout,
        number: int,
        *,
        is_vf: bool,
        lock: threading.Lock | None = None,
    ) -> None:
        self.layout = layout
        self.number = number
        self.mmio = csr_bar.window(
            layout.bank_offset(number, is_vf=is_vf),
            layout.bank_stride,
            name=f"{csr_bar.name} bank {number}",
        )
        self._lock = lock or threading.Lock()

    # --- per-ring registers ---------------------------------------------------------------

    def ring_offset(self, register: int, ring: int) -> int:
        """Offset in the bank window of a per-ring register."""
        return register + 4 * ring

    def read_ring(self, register: int, ring: int) -> int:
        return self.mmio.read32(register + 4 * ring)

    def write_ring(self, register: int, ring: int, value: int) -> None:
        self.mmio.write32(register + 4 * ring, value)

    def write_ring_base(self, ring: int, value: int) -> None:
        """Write a 64-bit encoded base: LBASE first, then UBASE, as Linux and DPDK do."""
        self.write_ring(self.layout.ring_lbase, ring, value & 0xFFFF_FFFF)
        self.write_ring(self.layout.ring_ubase, ring, value >> 32)

    # --- bank registers --------------------------------------------------------------------

    def arb_enable(self, tx_ring: int) -> None:
        """Let request ring ``tx_ring`` take part in arbitration (read-modify-write)."""
        with self._lock:
            off = self.layout.ring_srv_arb_en
            self.mmio.write32(off, self.mmio.read32(off) | (1 << tx_ring))

    def arb_disable(self, tx_ring: int) -> None:
        """Take request ring ``tx_ring`` out of arbitration."""
        with self._lock:
            off = self.layout.ring_srv_arb_en
            self.mmio.write32(off, self.mmio.read32(off) & ~(1 << tx_ring) & 0xFFFF_FFFF)

    def arb_enabled(self) -> int:
        """RING_SRV_ARB_EN: bit *t* set = request ring *t* is serviced."""
        return self.mmio.read32(self.layout.ring_srv_arb_en)

    def empty_status(self) -> int:
        """E_STAT: bit *r* set = ring *r* is empty."""
        return self.mmio.read32(self.layout.e_stat)

    def exception_status(self) -> int:
        """EXP_STAT (0 on generations without it): bit *r* set = ring *r* has an exception."""
        off = self.layout.exp_stat
        return 0 if off is None else self.mmio.read32(off)

    def __repr__(self) -> str:
        return f"<Bank {self.number} of {self.mmio.name}>"
