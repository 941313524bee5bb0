"""Streaming ciphers: cryptography's encryptor/decryptor shape and results."""

from __future__ import annotations

import itertools
import os

import pytest
from cryptography.exceptions import AlreadyFinalized, AlreadyUpdated, InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qathw.service.accelerator import Accelerator

KEY, IV, NONCE = os.urandom(32), os.urandom(16), os.urandom(12)
FIXTURE = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
CUTS = st.lists(st.integers(0, 300_000), max_size=6)


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    bounds = [0, *sorted(min(c, len(data)) for c in cuts), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


@settings(max_examples=15, deadline=None, suppress_health_check=FIXTURE)
@given(cuts=CUTS, size=st.integers(0, 300_000))
def test_ctr_stream_equals_cryptography(qat: Accelerator, cuts: list[int], size: int) -> None:
    data = os.urandom(size)
    enc = qat.encryptor("aes-256-ctr", KEY, IV)
    out = b"".join(enc.update(p) for p in _split(data, cuts)) + enc.finalize()
    assert out == Cipher(algorithms.AES(KEY), modes.CTR(IV)).encryptor().update(data)


@settings(max_examples=15, deadline=None, suppress_health_check=FIXTURE)
@given(cuts=CUTS, blocks=st.integers(0, 20_000))
def test_cbc_stream_equals_cryptography(qat: Accelerator, cuts: list[int], blocks: int) -> None:
    data = os.urandom(16 * blocks)
    enc = qat.encryptor("aes-256-cbc", KEY, IV)
    out = b"".join(enc.update(p) for p in _split(data, cuts)) + enc.finalize()
    assert out == Cipher(algorithms.AES(KEY), modes.CBC(IV)).encryptor().update(data)
    dec = qat.decryptor("aes-256-cbc", KEY, IV)
    assert b"".join(dec.update(p) for p in _split(out, cuts)) + dec.finalize() == data


@settings(max_examples=15, deadline=None, suppress_health_check=FIXTURE)
@given(cuts=CUTS, size=st.integers(0, 300_000), aad=st.binary(max_size=300))
def test_gcm_stream_equals_cryptography(
    qat: Accelerator, cuts: list[int], size: int, aad: bytes
) -> None:
    data = os.urandom(size)
    enc = qat.gcm_encryptor(KEY, NONCE)
    enc.authenticate_additional_data(aad)
    out = b"".join(enc.update(p) for p in _split(data, cuts)) + enc.finalize()
    ref = Cipher(algorithms.AES(KEY), modes.GCM(NONCE)).encryptor()
    ref.authenticate_additional_data(aad)
    assert out == ref.update(data) + ref.finalize()
    assert enc.tag == ref.tag


def test_gcm_decryption_checks_the_tag(qat: Accelerator) -> None:
    data = os.urandom(5000)
    ref = Cipher(algorithms.AES(KEY), modes.GCM(NONCE)).encryptor()
    ct = ref.update(data) + ref.finalize()
    dec = qat.gcm_decryptor(KEY, NONCE)
    assert dec.update(ct) == data
    dec.finalize_with_tag(ref.tag)


def test_gcm_decryption_refuses_a_wrong_tag(qat: Accelerator) -> None:
    dec = qat.gcm_decryptor(KEY, NONCE, bytes(16))
    dec.update(b"ciphertext")
    with pytest.raises(InvalidTag):
        dec.finalize()


def test_associated_data_after_update_is_refused(qat: Accelerator) -> None:
    enc = qat.gcm_encryptor(KEY, NONCE)
    enc.update(b"x")
    with pytest.raises(AlreadyUpdated):
        enc.authenticate_additional_data(b"late")


def test_update_after_finalize_is_refused(qat: Accelerator) -> None:
    enc = qat.encryptor("aes-128-ctr", KEY[:16], IV)
    enc.finalize()
    with pytest.raises(AlreadyFinalized):
        enc.update(b"late")


def test_cbc_refuses_to_finalize_a_partial_block(qat: Accelerator) -> None:
    enc = qat.encryptor("aes-128-cbc", KEY[:16], IV)
    enc.update(b"17 bytes of input")
    with pytest.raises(ValueError, match="multiple of the block length"):
        enc.finalize()


def test_update_into_writes_the_output(qat: Accelerator) -> None:
    enc = qat.encryptor("aes-128-ctr", KEY[:16], IV)
    buf = bytearray(100)
    n = enc.update_into(b"x" * 100, buf)
    ref = Cipher(algorithms.AES(KEY[:16]), modes.CTR(IV)).encryptor().update(b"x" * 100)
    assert bytes(buf[:n]) == ref


def test_xts_cannot_be_streamed(qat: Accelerator) -> None:
    from qathw.errors import UnsupportedAlgorithmError

    with pytest.raises(UnsupportedAlgorithmError, match="XTS is one-shot"):
        qat.encryptor("aes-128-xts", KEY, IV)
