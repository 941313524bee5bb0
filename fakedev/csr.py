"""Register semantics of the emulated ring CSRs: what hardware does at MMIO time, and how
the fake does the same by polling shared memory.

The driver and the device share only memory, so a register write is a plain store the
device model sees the next time it looks. This is the one place that says, per register,
what a real device does when the write happens and what the fake does each ``step()``:

===================  ==================================  ===========================================
register             real device, at the MMIO access     fakedev, each step
===================  ==================================  ===========================================
RING_CONFIG, LBASE,  latches size and base              read when a request ring has new work;
UBASE (TX and RX)                                        validated when they change (size code,
                                                         base aligned to the ring size, ring inside
                                                         device memory; request and response rings
                                                         may hold different numbers of messages).
                                                         A bad ring is a
                                                         loud device error (control page
                                                         ``device_error``, ``EXP_STAT`` bit of both
                                                         rings) and is not processed until it is
                                                         programmed again; never silent corruption
RING_TAIL (TX)       doorbell: latch the producer        compared with the device's consumer head;
                     offset, start fetching              every slot between them is consumed in
                                                         order (a tail that jumps many slots is
                                                         normal: one doorbell per batch)
RING_HEAD (TX)       device-written consumer offset      written back after consuming
RING_TAIL (RX)       device-written producer offset      written back after responses are written
RING_HEAD (RX)       host acknowledges responses         read for flow control: the device never
                                                         writes the slot at ``HEAD - 32`` (full),
                                                         it stalls; lazy acknowledgement works
RING_SRV_ARB_EN      TX ring *t* takes part in           read each step; a ring whose bit is clear
                     arbitration while bit *t* is set    is not serviced
E_STAT               computed (bit = ring empty)         recomputed each step, written on change
EXP_STAT             ring exception status (any bit      bit *r* raised when the device refuses ring
                     set is an exception)                *r* (the exceptions the fake knows)
INT_COL_CTL          bit 31: coalescing on; bits 15:0    an enabled ring's interrupt fires at once
                     the delay, 256 CPP cycles each      with bit 31 clear, else that delay after
                                                         the first response it holds
STAT, INT_*, ...     status / interrupt plumbing         plain storage (reads what was written; 0)
===================  ==================================  ===========================================

Two consequences of polling instead of trapping, both handled:

* A write of a ring base resets the ring's pointers on hardware; the fake cannot see a
  write that restores the same value. A driver that reprograms a ring therefore writes
  TX HEAD and RX TAIL to 0 (as qathw's ring pair does); because only the device writes
  those two registers otherwise, the fake treats a value it did not write as a ring reset.
* The PCI command register lives in the control page (``pci_command``): the device does
  no DMA at all until the frontend sets Bus Master Enable, as on hardware.
"""

from __future__ import annotations

from qathw.transport.csr import CsrLayout


class BankRegs:
    """Word indices (into the CSR window as 32-bit words) of one bank's registers.

    Args:
        layout: the generation's CSR layout.
        bank: bank number.
        is_vf: VF endpoints start banks at ``etr_offset_vf``, PFs at ``etr_offset_pf``.
    """

    def __init__(self, layout: CsrLayout, bank: int, *, is_vf: bool) -> None:
        self.layout = layout
        self.bank = bank
        self.base = layout.bank_offset(bank, is_vf=is_vf)
        self.words = layout.bank_stride // 4
        self.first_word = self.base // 4
        self.arb_en = self.word(layout.ring_srv_arb_en)
        self.e_stat = self.word(layout.e_stat)
        self.exp_stat = None if layout.exp_stat is None else self.word(layout.exp_stat)

    def word(self, offset: int) -> int:
        """Word index of a bank register at ``offset``."""
        return (self.base + offset) >> 2

    def ring_word(self, offset: int, ring: int) -> int:
        """Word index of a per-ring register at ``offset`` for ring ``ring``."""
        return (self.base + offset + 4 * ring) >> 2

    def clear(self, csr: memoryview) -> None:
        """Every register of the bank back to its reset value (0)."""
        start = self.first_word
        csr[start : start + self.words] = memoryview(bytes(4 * self.words)).cast("I")
