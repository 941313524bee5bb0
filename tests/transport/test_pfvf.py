"""The gen4 PF/VF message format, pinned against docs/hardware.md#pfvf-mailbox."""

from __future__ import annotations

import pytest

from qathw.transport import pfvf
from qathw.transport.pfvf import BlkRespType, Pf2VfType, RingService, Vf2PfType

# docs/hardware.md#known-answers (gen4 PF/VF words), computed from the message formats.
WORDS = [
    ("COMPAT_VER_REQ(5)", pfvf.encode(Vf2PfType.COMPAT_VER_REQ, 5), 0x0000051B),
    ("VERSION_RESP(5, ok)", pfvf.encode(Pf2VfType.VERSION_RESP, 5 | 1 << 8), 0x0001050B),
    ("SMALL_BLOCK_REQ 3/0", pfvf.block_request(3, 0), 0x0327),
    ("SMALL_BLOCK_REQ 3/1", pfvf.block_request(3, 1), 0x1327),
    ("SMALL_BLOCK_REQ 3/2", pfvf.block_request(3, 2), 0x2327),
    ("SMALL_BLOCK_REQ 3/3", pfvf.block_request(3, 3), 0x3327),
    ("CRC over 4 bytes", pfvf.block_request(3, 3, crc=True), 0x00023327),
    ("BLKMSG_RESP 0x1C", pfvf.block_response(BlkRespType.DATA, 0x1C), 0x0000700F),
    ("RP_RESET(1)", pfvf.encode(Vf2PfType.RP_RESET, 1), 0x143),
    ("RP_RESET_RESP(ok)", pfvf.encode(Pf2VfType.RP_RESET_RESP, 0), 0x43),
]


@pytest.mark.parametrize(("name", "word", "expected"), WORDS, ids=[w[0] for w in WORDS])
def test_register_words(name: str, word: int, expected: int) -> None:
    assert word == expected


def test_crc8_of_the_reference_blocks() -> None:
    # docs/hardware.md#known-answers: map block 01 02 1C 07 -> 0xAC; dc-only 01 02 92 04 -> 0xED.
    assert pfvf.crc8(bytes([0x01, 0x02, 0x1C, 0x07])) == 0xAC
    assert pfvf.crc8(bytes([0x01, 0x02, 0x92, 0x04])) == 0xED


def test_block_requests_decode_to_what_was_asked() -> None:
    for block_type in (0, 3, 15, 16, 23, 24, 27):
        cls = pfvf.block_class_for(block_type)
        for index in (0, 1, cls.byte_max):
            for crc in (False, True):
                word = pfvf.block_request(block_type, index, crc=crc)
                assert pfvf.decode_block_request(word) == (block_type, index, crc)


def test_block_request_bounds() -> None:
    with pytest.raises(ValueError, match=r"not 0\.\.27"):
        pfvf.block_request(28, 0)
    with pytest.raises(ValueError, match="does not fit"):
        pfvf.block_request(3, 32)  # small blocks: byte field is 5 bits


def test_message_fields() -> None:
    word = pfvf.encode(Vf2PfType.RP_RESET, 3)
    assert word & pfvf.PFVF_INT and word & pfvf.PFVF_MSGORIGIN_SYSTEM
    assert (pfvf.msg_type(word), pfvf.msg_data(word)) == (Vf2PfType.RP_RESET, 3)
    with pytest.raises(ValueError):
        pfvf.encode(0x40)
    with pytest.raises(ValueError):
        pfvf.encode(1, 1 << 24)


def test_ring_service_map_default_and_dc_only() -> None:
    # docs/hardware.md#ring-to-service-map: default ASYM, SYM, ASYM, SYM = 0x071C; dc-only 0x0492.
    assert pfvf.decode_ring_service_map(0x071C) == (
        RingService.ASYM, RingService.SYM, RingService.ASYM, RingService.SYM,
    )  # fmt: skip
    assert pfvf.decode_ring_service_map(0x0492) == (RingService.COMP,) * 4
    assert pfvf.encode_ring_service_map([RingService.ASYM, RingService.SYM] * 2) == 0x071C


@pytest.mark.parametrize(
    ("text", "value"),
    # sym;dc: COMP, SYM, COMP, SYM, as the in-tree gen4 PF maps it (adf_fw_sym_dc_config)
    [("sym;asym", 0x071C), ("asym;sym", 0x071C), ("dc", 0x0492), ("sym, dc", 0x069A)],
)
def test_service_names(text: str, value: int) -> None:
    assert pfvf.ring_service_map_from_names(text) == value


@pytest.mark.parametrize("text", ["", "sym;sym", "sym;asym;dc", "crypto"])
def test_bad_service_names(text: str) -> None:
    with pytest.raises(ValueError, match="sym"):
        pfvf.ring_service_map_from_names(text)


def test_request_size_per_service() -> None:
    assert pfvf.request_size(RingService.ASYM) == 64
    assert pfvf.request_size(RingService.SYM) == pfvf.request_size(RingService.COMP) == 128
