"""The bytes the request layer reads and writes in place are where the firmware has them.

The expected offsets are written out by hand from the published layouts (docs/hardware.md:
#request-header, #la-request, #response, #comp-request), not computed from our
structures, so a constant derived from the wrong field cannot pass.
"""

from __future__ import annotations

import pytest

from qathw.fw import common, comp, la

PUBLISHED = [
    ("request opaque_data", common.REQ_OPAQUE_OFFSET, 24),
    ("response hdr_flags", common.RESP_HDR_FLAGS_OFFSET, 3),
    ("response comn_status", common.RESP_STATUS_OFFSET, 6),
    ("response opaque_data", common.RESP_OPAQUE_OFFSET, 8),
    ("compression response counters", comp.RESP_COMP_PARS_OFFSET, 16),
    ("LA src_data_addr", common.REQ_SRC_ADDR_OFFSET, 32),
    ("LA dest_data_addr", common.REQ_DST_ADDR_OFFSET, 40),
    ("LA src_length", common.REQ_SRC_LEN_OFFSET, 48),
    ("LA dst_length", common.REQ_DST_LEN_OFFSET, 52),
    ("LA cipher_offset", la.REQ_CIPHER_OFF_OFFSET, 56),
    ("LA cipher_length", la.REQ_CIPHER_LEN_OFFSET, 60),
    ("LA cipher IV", la.REQ_CIPHER_IV_OFFSET, 64),
    ("LA AAD address", la.REQ_AAD_ADDR_OFFSET, 88),
    ("LA auth_res_addr", la.REQ_AUTH_RES_ADDR_OFFSET, 96),
    ("compression initial_crc32", comp.REQ_INITIAL_CRC32_OFFSET, 64),
    ("compression initial_adler", comp.REQ_INITIAL_ADLER_OFFSET, 68),
    ("compression req_par_flags", comp.REQ_PAR_FLAGS_OFFSET, 72),
]


@pytest.mark.parametrize(
    ("field", "offset", "published"), PUBLISHED, ids=[name for name, _, _ in PUBLISHED]
)
def test_an_offset_the_request_layer_uses_is_the_published_one(
    field: str, offset: int, published: int
) -> None:
    assert offset == published, field


def test_the_inline_iv_field_holds_sixteen_bytes() -> None:
    assert la.REQ_CIPHER_IV_SZ == 16
