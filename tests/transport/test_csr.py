"""CSR layouts and ring arithmetic, pinned against the tables of docs/hardware.md.

The numbers below are transcribed by hand from those tables (docs/hardware.md#ring-csrs,
#ring-config, #pfvf-mailbox), not computed from qathw.transport.csr, so a wrong table
cannot agree with itself.
"""

from __future__ import annotations

import pytest

from qathw.errors import RingConfigError
from qathw.ids import Generation
from qathw.transport import csr
from qathw.transport.csr import GEN2, GEN4

# (register, gen2 offset, gen4 offset), from docs/hardware.md#ring-csrs; None: the
# generation has no such register.
REGISTERS = [
    ("ring_config", 0x000, 0x1000),
    ("ring_lbase", 0x040, 0x1040),
    ("ring_ubase", 0x080, 0x1080),
    ("ring_head", 0x0C0, 0x0C0),
    ("ring_tail", 0x100, 0x100),
    ("stat", None, 0x140),
    ("uo_stat", None, 0x148),
    ("e_stat", 0x14C, 0x14C),
    ("ne_stat", None, 0x150),
    ("nf_stat", None, 0x154),
    ("f_stat", None, 0x158),
    ("c_stat", None, 0x15C),
    ("int_flag_en", None, 0x16C),
    ("int_flag", 0x170, 0x170),
    ("int_srcsel", 0x174, 0x174),
    ("int_srcsel_2", 0x178, None),
    ("int_col_en", 0x17C, 0x17C),
    ("int_col_ctl", 0x180, 0x180),
    ("int_flag_and_col", 0x184, 0x184),
    ("exp_stat", None, 0x188),
    ("exp_int_en", None, 0x18C),
    ("ring_srv_arb_en", 0x19C, 0x19C),
]


@pytest.mark.parametrize(("name", "gen2", "gen4"), REGISTERS, ids=[r[0] for r in REGISTERS])
def test_register_offsets(name: str, gen2: int | None, gen4: int | None) -> None:
    assert (getattr(GEN2, name), getattr(GEN4, name)) == (gen2, gen4)


def test_bank_shape_per_generation() -> None:
    # docs/hardware.md#ring-csrs: gen2 VF 1 bank x 16 rings, stride 0x1000; gen4 VF 4 banks
    # x 2 rings, stride 0x2000.
    assert (GEN2.bank_stride, GEN2.rings_per_bank) == (0x1000, 16)
    assert (GEN4.bank_stride, GEN4.rings_per_bank) == (0x2000, 2)


def test_request_rings_and_their_response_rings() -> None:
    assert GEN2.tx_rings == tuple(range(8))
    assert [GEN2.rx_ring_of(t) for t in GEN2.tx_rings] == list(range(8, 16))
    assert GEN4.tx_rings == (0,)
    assert GEN4.rx_ring_of(0) == 1


def test_a_response_ring_is_not_a_request_ring() -> None:
    with pytest.raises(RingConfigError, match="not a request ring"):
        GEN4.rx_ring_of(1)


def test_bank_addresses_vf_and_pf() -> None:
    # gen4 VF banks start at 0 of BAR0; the PF's ETR banks at 0x100000
    # (docs/hardware.md#ring-csrs).
    assert GEN4.bank_offset(3, is_vf=True) == 3 * 0x2000
    assert GEN4.bank_offset(0, is_vf=False) == 0x100000
    assert GEN4.bank_offset(63, is_vf=False) == 0x100000 + 63 * 0x2000
    assert GEN4.csr_bar_size(4, is_vf=True) == 0x8000
    assert GEN2.csr_bar_size(1, is_vf=True) == 0x1000


def test_mailbox_offsets() -> None:
    # docs/hardware.md#pfvf-mailbox (gen4 VF view of PMISC) and the gen2 shared register
    # at 0x200.
    assert (GEN4.vintmsk_pf2vm, GEN4.pf2vm, GEN4.vm2pf) == (0x1004, 0x1008, 0x100C)
    assert (GEN2.pf2vm, GEN2.vm2pf, GEN2.vintmsk_pf2vm) == (0x200, 0x200, None)


# docs/hardware.md#ring-config: the ring size code table
SIZES = [
    (0x01, 128), (0x02, 256), (0x03, 512), (0x04, 1 << 10), (0x05, 2 << 10),
    (0x06, 4 << 10), (0x07, 8 << 10), (0x08, 16 << 10), (0x09, 32 << 10),
    (0x0A, 64 << 10), (0x0B, 128 << 10), (0x0C, 256 << 10), (0x0D, 512 << 10),
    (0x0E, 1 << 20), (0x0F, 2 << 20), (0x10, 4 << 20),
]  # fmt: skip


@pytest.mark.parametrize(("code", "nbytes"), SIZES)
def test_ring_size_codes(code: int, nbytes: int) -> None:
    assert csr.ring_bytes(code) == nbytes
    assert csr.ring_size_code(nbytes) == code


@pytest.mark.parametrize("nbytes", [64, 96, 3000, 8 << 20, 0])
def test_sizes_the_hardware_does_not_know_are_refused(nbytes: int) -> None:
    with pytest.raises(RingConfigError, match="not a size the hardware knows"):
        csr.ring_size_code(nbytes)


def test_config_words() -> None:
    # docs/hardware.md#ring-config examples: a 16 KiB response ring is 0x2008, a 64 KiB
    # request ring 0x0A.
    assert csr.ring_config(0x08, response=True) == 0x2008
    assert csr.ring_config(0x0A, response=False) == 0x0A


def test_max_in_flight_is_slots_minus_one() -> None:
    # docs/hardware.md#ring-config: a 64 KB ring of 128-byte messages allows 511 in flight.
    assert csr.max_in_flight(64 << 10, 128) == 511


def test_gen4_base_is_the_byte_address() -> None:
    iova = 0x10_0000_4000  # 16 KiB aligned
    assert GEN4.encode_base(iova, 0x08) == iova
    assert GEN4.decode_base(iova, 0x08) == (iova, True)


def test_gen2_base_counts_64_byte_units() -> None:
    iova = 0x10_0000_4000
    assert GEN2.encode_base(iova, 0x08) == iova >> 6
    assert GEN2.decode_base(iova >> 6, 0x08) == (iova, True)


def test_an_unaligned_base_is_refused_and_detected() -> None:
    with pytest.raises(RingConfigError, match="not aligned"):
        GEN4.encode_base(0x10_0000_2000, 0x08)
    assert GEN4.decode_base(0x10_0000_2000, 0x08)[1] is False
    assert GEN2.decode_base(0x10_0000_2000 >> 6, 0x08)[1] is False


def test_layout_lookup() -> None:
    assert csr.layout_for(Generation.GEN4) is GEN4
    assert csr.layout_for(2) is GEN2
    with pytest.raises(RingConfigError, match="no ring-CSR layout for generation 6"):
        csr.layout_for(Generation.GEN6)
