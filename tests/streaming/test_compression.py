"""Compression and decompression: zlib's shape, zlib/gzip interoperability both ways,
chunking, stateful decompression, errors."""

from __future__ import annotations

import gzip
import itertools
import logging
import os
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import qathw
from qathw.service.accelerator import Accelerator
from qathw.service.deflate_stream import Compressor, Decompressor
from tests.streaming import corpus

FRAMINGS = [-15, 15, 31]
DATA = [b"", b"a", os.urandom(100_000), corpus.text(300_000), *corpus.real_files()]
IDS = ["empty", "one", "random", "text", *[f"file{i}" for i in range(len(DATA) - 4)]]
SLOW_FIXTURE = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]


@pytest.mark.parametrize("wbits", FRAMINGS)
@pytest.mark.parametrize("data", DATA, ids=IDS)
def test_zlib_reads_what_qathw_compresses(qat: Accelerator, data: bytes, wbits: int) -> None:
    assert zlib.decompress(qat.compress(data, 6, wbits), wbits) == data


@pytest.mark.parametrize("data", DATA, ids=IDS)
def test_gzip_reads_what_qathw_compresses_as_gzip(qat: Accelerator, data: bytes) -> None:
    assert gzip.decompress(qat.compress(data, 9, 31)) == data


@pytest.mark.parametrize("wbits", FRAMINGS)
@pytest.mark.parametrize("data", DATA, ids=IDS)
def test_qathw_reads_what_zlib_compresses(qat: Accelerator, data: bytes, wbits: int) -> None:
    c = zlib.compressobj(6, zlib.DEFLATED, wbits)
    assert qat.decompress(c.compress(data) + c.flush(), wbits) == data


@pytest.mark.parametrize("data", DATA, ids=IDS)
def test_qathw_reads_what_gzip_compresses(qat: Accelerator, data: bytes) -> None:
    assert qat.decompress(gzip.compress(data), 31) == data


@pytest.mark.parametrize("wbits", [15, 31])
def test_wbits_47_detects_zlib_and_gzip(qat: Accelerator, wbits: int) -> None:
    data = corpus.text(5000)
    assert qat.decompress(qat.compress(data, 6, wbits), 47) == data


def test_gzip_members_are_decompressed_in_sequence(qat: Accelerator) -> None:
    blob = gzip.compress(b"first ") + qat.compress(b"second", 6, 31) + b"\0" * 4
    assert qat.decompress(blob, 31) == b"first second"


def test_the_facade_compresses_on_a_given_instance(qat: Accelerator) -> None:
    assert qat.dc is not None
    blob = qathw.compress(b"facade" * 100, wbits=31, instance=qat.dc)
    assert qathw.decompress(blob, 31, instance=qat.dc) == b"facade" * 100


@settings(max_examples=15, deadline=None, suppress_health_check=SLOW_FIXTURE)
@given(cuts=st.lists(st.integers(0, 600_000), max_size=6))
def test_streamed_compression_equals_one_shot(qat: Accelerator, cuts: list[int]) -> None:
    data = corpus.text(600_000, seed=3)
    c = qat.compressobj(6, 15)
    bounds = [0, *sorted(cuts), len(data)]
    streamed = b"".join(c.compress(data[a:b]) for a, b in itertools.pairwise(bounds))
    assert streamed + c.flush() == qat.compress(data, 6, 15)


@settings(max_examples=8, deadline=None, suppress_health_check=SLOW_FIXTURE)
@given(cuts=st.lists(st.integers(0, 200_000), max_size=6))
def test_streamed_decompression_equals_zlib(qat: Accelerator, cuts: list[int]) -> None:
    data = corpus.text(600_000, seed=4)
    blob = gzip.compress(data)
    d = qat.decompressobj(31)
    bounds = [0, *sorted(min(c, len(blob)) for c in cuts), len(blob)]
    out = b"".join(d.decompress(blob[a:b]) for a, b in itertools.pairwise(bounds))
    assert out + d.flush() == zlib.decompress(blob, 31)
    assert d.eof


def test_input_larger_than_a_request_is_chunked(qat: Accelerator) -> None:
    c = qat.compressobj(1, -15)
    assert isinstance(c, Compressor)
    data = os.urandom(3 * c.chunk + 5)
    assert zlib.decompress(c.compress(data) + c.flush(), -15) == data


def test_a_stream_longer_than_a_request_continues_on_the_host(
    qat: Accelerator, caplog: pytest.LogCaptureFixture
) -> None:
    data = os.urandom(4 << 20)  # incompressible: more than one request of input
    d = qat.decompressobj(15)
    assert isinstance(d, Decompressor)
    with caplog.at_level(logging.INFO, logger="qathw"):
        out = d.decompress(zlib.compress(data)) + d.flush()
    assert out == data
    assert d.host_continued
    assert any("continues on the host" in r.getMessage() for r in caplog.records)


def test_data_after_the_stream_is_unused_data(qat: Accelerator) -> None:
    d = qat.decompressobj(15)
    assert d.decompress(zlib.compress(b"body") + b"extra") == b"body"
    assert d.eof
    assert d.unused_data == b"extra"


def test_a_wrong_checksum_is_refused(qat: Accelerator) -> None:
    blob = bytearray(zlib.compress(b"checked data"))
    blob[-1] ^= 1
    with pytest.raises(qathw.CorruptStreamError, match="incorrect data check"):
        qat.decompress(bytes(blob), 15)


def test_a_wrong_gzip_length_is_refused(qat: Accelerator) -> None:
    blob = bytearray(gzip.compress(b"sized data"))
    blob[-4] ^= 1
    with pytest.raises(qathw.CorruptStreamError, match="length"):
        qat.decompress(bytes(blob), 31)


def test_corrupt_deflate_data_is_refused(qat: Accelerator) -> None:
    with pytest.raises(qathw.CorruptStreamError, match="invalid"):
        qat.decompress(b"\xff" * 64, -15)


def test_a_bad_gzip_header_is_refused(qat: Accelerator) -> None:
    with pytest.raises(qathw.CorruptStreamError, match="magic"):
        qat.decompress(b"PK\x03\x04" + bytes(20), 31)


def test_truncated_gzip_is_refused(qat: Accelerator) -> None:
    blob = gzip.compress(corpus.text(10_000))
    with pytest.raises(qathw.TruncatedStreamError):
        qat.decompress(blob[:-5], 31)


def test_compress_after_the_final_flush_is_refused(qat: Accelerator) -> None:
    c = qat.compressobj()
    c.flush()
    with pytest.raises(ValueError, match="finished"):
        c.compress(b"late")


def test_a_window_the_device_cannot_declare_is_refused(qat: Accelerator) -> None:
    with pytest.raises(ValueError, match="32 KiB"):
        qat.compressobj(6, 9)


def test_text_is_refused_as_input(qat: Accelerator) -> None:
    with pytest.raises(TypeError, match="str"):
        qat.compress("text")  # type: ignore[arg-type]  # as zlib, at run time too


def test_a_sync_flush_ends_on_a_byte_boundary_zlib_can_read(qat: Accelerator) -> None:
    c = qat.compressobj(6, -15)
    head = c.compress(b"before flush ") + c.flush(zlib.Z_SYNC_FLUSH)
    d = zlib.decompressobj(-15)
    assert d.decompress(head) == b"before flush "
    assert d.decompress(c.compress(b"after") + c.flush()) == b"after"


def test_256_mib_compress_through_a_16_mib_endpoint(qat: Accelerator) -> None:
    c = qat.compressobj(1, 31)
    check = zlib.decompressobj(31)
    crc, n = 0, 0
    for block in corpus.blocks(256 << 20):
        out = check.decompress(c.compress(block))
        crc, n = zlib.crc32(out, crc), n + len(out)
    out = check.decompress(c.flush())
    crc, n = zlib.crc32(out, crc), n + len(out)
    assert check.eof
    assert n == 256 << 20
    assert crc == _crc_of(corpus.blocks(256 << 20))


def _crc_of(blocks: object) -> int:
    crc = 0
    for b in blocks:  # type: ignore[attr-defined]
        crc = zlib.crc32(b, crc)
    return crc
