"""Checksums of a concatenation from its parts, as zlib's crc32_combine/adler32_combine."""

from __future__ import annotations

import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qathw.service.checksums import adler32_combine, crc32_combine


@given(st.binary(max_size=2000), st.binary(max_size=70_000))
def test_crc32_combine_equals_crc32_of_the_concatenation(a: bytes, b: bytes) -> None:
    assert crc32_combine(zlib.crc32(a), zlib.crc32(b), len(b)) == zlib.crc32(a + b)


@given(st.binary(max_size=2000), st.binary(max_size=70_000))
def test_adler32_combine_equals_adler32_of_the_concatenation(a: bytes, b: bytes) -> None:
    assert adler32_combine(zlib.adler32(a), zlib.adler32(b), len(b)) == zlib.adler32(a + b)


def test_a_negative_length_is_refused() -> None:
    with pytest.raises(ValueError, match="length2"):
        crc32_combine(0, 0, -1)
