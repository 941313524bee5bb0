"""qathw.aeskey: the AES key schedule against FIPS-197, and the reversed key round trip."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qathw import aeskey

# FIPS-197 Appendix A: the cipher keys and the last expanded word w[4*Nr+3].
FIPS197 = [
    ("2b7e151628aed2a6abf7158809cf4f3c", "b6630ca6"),
    ("8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b", "01002202"),
    ("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4", "706c631e"),
]


@pytest.mark.parametrize(("key", "last_word"), FIPS197)
def test_expansion_matches_fips197_appendix_a(key: str, last_word: str) -> None:
    assert aeskey.expand_key(bytes.fromhex(key))[-1].hex() == last_word


def test_aes128_last_round_key_is_the_fips197_value() -> None:
    key = bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c")
    assert aeskey.reverse_key(key).hex() == "d014f9a8c9ee2589e13f0cc8b6630ca6"


def test_aes256_reversed_key_is_last_round_key_then_the_one_before() -> None:
    key = bytes.fromhex(FIPS197[2][0])
    rev = aeskey.reverse_key(key)
    assert rev[:16] == aeskey.round_key(key, 14)
    assert rev[16:] == aeskey.round_key(key, 13)


@given(key=st.sampled_from([16, 24, 32]).flatmap(lambda n: st.binary(min_size=n, max_size=n)))
@settings(max_examples=30, deadline=None)
def test_forward_key_undoes_reverse_key(key: bytes) -> None:
    assert aeskey.forward_key(aeskey.reverse_key(key)) == key


@pytest.mark.parametrize("size", [0, 15, 20, 33])
def test_bad_key_sizes_are_refused(size: int) -> None:
    with pytest.raises(ValueError, match="16, 24 or 32"):
        aeskey.reverse_key(b"k" * size)
