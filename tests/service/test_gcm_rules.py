"""GCM as the hardware takes it: AAD in whole zeroed blocks, nonces of any length.

The fake reads the AAD as the device does (``round16(len)`` bytes, all of them hashed),
so these pass only because qathw zeroes what follows the AAD in reused DMA memory, and
sends a host-computed J0 for nonces that are not 12 bytes (qatlib's rule).
"""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from fakedev.engine import primitives
from qathw.service.instance import CyInstance

KEY = bytes(range(16))


@pytest.mark.parametrize("single_pass", [None, False], ids=["single-pass", "two-pass"])
def test_a_short_aad_after_a_longer_one_gives_the_standard_tag(
    cy: CyInstance, single_pass: bool | None
) -> None:
    """A 13-byte TLS AAD staged where a 40-byte one was: the 3 pad bytes must be zero."""
    ref = AESGCM(KEY)
    with cy.aead("aes-128-gcm", KEY, single_pass=single_pass) as s:
        for aad in (os.urandom(40), os.urandom(13), os.urandom(40), os.urandom(13)):
            nonce = os.urandom(12)
            assert s.encrypt(nonce, b"record", aad) == ref.encrypt(nonce, b"record", aad)


def test_a_batch_stages_every_aad_zero_padded(cy: CyInstance) -> None:
    ref = AESGCM(KEY)
    with cy.aead("aes-128-gcm", KEY) as s:
        for size in (40, 13):  # the second batch reuses the first one's DMA memory
            nonces = [os.urandom(12) for _ in range(8)]
            aads = [os.urandom(size) for _ in nonces]
            bufs = [cy.alloc(6 + 16) for _ in nonces]
            for b in bufs:
                b.view[:6] = b"record"
            cy.perform_batch(
                [s.encrypt_op(n, b, a) for n, b, a in zip(nonces, bufs, aads, strict=True)]
            )
            for n, b, a in zip(nonces, bufs, aads, strict=True):
                assert bytes(b.view) == ref.encrypt(n, b"record", a)
                b.free()


def test_every_nonce_length_cryptography_takes_gives_its_answer(cy: CyInstance) -> None:
    """8..128 bytes, as cryptography's AESGCM takes them: 12 goes to the device, the rest
    as the J0 the host computes."""
    ref = AESGCM(KEY)
    with cy.aead("aes-128-gcm", KEY) as s:
        for size in range(8, 129):
            nonce, aad, data = os.urandom(size), os.urandom(size % 20), os.urandom(size)
            sealed = s.encrypt(nonce, data, aad)
            assert sealed == ref.encrypt(nonce, data, aad), size
            assert s.decrypt(nonce, sealed, aad) == data


@pytest.mark.parametrize("size", range(1, 8))
def test_nonces_shorter_than_cryptography_takes_follow_sp800_38d(cy: CyInstance, size: int) -> None:
    """SP 800-38D allows any IV length; checked against fakedev's own GHASH (NIST's 8-bit IV
    vectors are in test_known_answers)."""
    nonce, data = os.urandom(size), os.urandom(33)
    enc = Cipher(algorithms.AES(KEY), modes.ECB()).encryptor()
    h = enc.update(bytes(16))
    ct, tag = primitives.gcm(enc, h, primitives.j0_from_iv(h, nonce), b"hdr", data, True)
    with cy.aead("aes-128-gcm", KEY) as s:
        assert s.encrypt(nonce, data, b"hdr") == ct + tag
