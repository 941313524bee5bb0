"""A deflate stream over several requests: non-final blocks, and checksums carried on.

A compression request with ``final=False`` ends its output on a byte boundary without the
final block, so the next request's output can follow it; the CRC32 and Adler-32 seeds
continue the checksums of the requests before. The request fields are checked as the
compression layout reads them, and the stream end to end against ``zlib``.
"""

from __future__ import annotations

import os
import zlib

import pytest

from qathw.fw import comp
from qathw.service import cd, wire
from qathw.service.algorithms import Huffman
from qathw.service.cd import CompDirection
from qathw.service.instance import DcInstance

_BFINAL = 1 << comp.COMP_BFINAL_BITPOS
_SRC, _DST = wire.Flat(0x10_0000, 4096), wire.Flat(0x20_0000, 8192)


def _fields(req: bytes | bytearray) -> comp.icp_qat_fw_comp_req_params:
    params: comp.icp_qat_fw_comp_req_params = comp.icp_qat_fw_comp_req.from_buffer_copy(
        req
    ).comp_pars
    return params


def test_a_non_final_request_drops_the_final_block_and_carries_the_seeds() -> None:
    setup = cd.compression_session(CompDirection.COMPRESS, huffman=Huffman.DYNAMIC)
    whole = wire.comp_request(setup, opaque=0, src=_SRC, dst=_DST)
    part = wire.comp_request(
        setup, opaque=0, src=_SRC, dst=_DST, final=False, crc32=0x1234_5678, adler32=0x9ABC_DEF0
    )
    assert _fields(whole).req_par_flags & _BFINAL
    assert _fields(part).req_par_flags == _fields(whole).req_par_flags & ~_BFINAL
    assert (_fields(part).initial_crc32, _fields(part).initial_adler) == (
        0x1234_5678,
        0x9ABC_DEF0,
    )


def test_by_default_a_request_keeps_the_templates_final_block_and_seeds() -> None:
    setup = cd.compression_session(CompDirection.COMPRESS, huffman=Huffman.STATIC)
    req = wire.comp_request(setup, opaque=0, src=_SRC, dst=_DST)
    template = _fields(setup.template)
    got = _fields(req)
    assert (got.req_par_flags, got.initial_crc32, got.initial_adler) == (
        template.req_par_flags,
        template.initial_crc32,
        template.initial_adler,
    )


@pytest.mark.parametrize(
    ("crc32", "adler32", "name"), [(1 << 32, None, "crc32"), (None, 1 << 32, "adler32")]
)
def test_a_seed_beyond_32_bits_is_refused(
    crc32: int | None, adler32: int | None, name: str
) -> None:
    setup = cd.compression_session(CompDirection.COMPRESS)
    with pytest.raises(ValueError, match=name):
        wire.comp_request(setup, opaque=0, src=_SRC, dst=_DST, crc32=crc32, adler32=adler32)


def test_a_stream_compressed_in_two_requests_inflates_to_the_whole_input(
    dc: DcInstance,
) -> None:
    first = b"".join(b"record %d: ok\n" % i for i in range(600))
    second = os.urandom(300) + first[:2000]
    with dc.compression(huffman=Huffman.DYNAMIC) as s:
        head = s.compress(first, final=False)
        tail = s.compress(second, crc32=head.crc32, adler32=head.adler32)
    assert not head.end_of_stream and tail.end_of_stream
    inflate = zlib.decompressobj(-15)
    assert inflate.decompress(head.output + tail.output) == first + second
    assert inflate.eof
    assert (tail.crc32, tail.adler32) == (zlib.crc32(first + second), zlib.adler32(first + second))
