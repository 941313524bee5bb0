"""GCM batches on plain bytes: one array of requests, and the answers of op by op.

Ops of one GCM session on bytes, and a session's ``encrypt_many`` / ``decrypt_many``, go
to the device as one array (``qathw.service.gcm_batch``); ``test_request_building`` pins
its rows to the requests each op builds, and here its results to ``cryptography``'s
AESGCM, through the fake device that reads AAD in whole blocks as the hardware does.
"""

from __future__ import annotations

import os

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from qathw.errors import QatError, UnsupportedAlgorithmError
from qathw.ids import Generation
from qathw.service.batches import batch_work
from qathw.service.gcm_batch import AeadBatch
from qathw.service.instance import CyInstance
from qathw.service.offers import EndpointOffer
from qathw.service.operations import Op

KEY = bytes(range(16))
REF = AESGCM(KEY)
FORMS = pytest.mark.parametrize(
    ("single_pass", "nonce_size"),
    [(None, 12), (False, 12), (None, 8)],
    ids=["single-pass", "two-pass", "j0"],
)


def _is_array(ops: list[Op[object]]) -> bool:
    work = batch_work(ops)
    work.release()
    return isinstance(work, AeadBatch)


@FORMS
@pytest.mark.parametrize("lengths", ["same", "varied"])
def test_a_batch_of_ops_on_bytes_gives_aesgcms_answers(
    cy: CyInstance, single_pass: bool | None, nonce_size: int, lengths: str
) -> None:
    with cy.aead("aes-128-gcm", KEY, single_pass=single_pass) as s:
        nonces = [os.urandom(nonce_size) for _ in range(9)]
        msgs = [os.urandom(64 if lengths == "same" else 7 * i) for i in range(9)]
        ops = [s.encrypt_op(n, m, b"hdr") for n, m in zip(nonces, msgs, strict=True)]
        assert _is_array(ops)  # type: ignore[arg-type]
        sealed = cy.perform_batch(ops)
        assert sealed == [REF.encrypt(n, m, b"hdr") for n, m in zip(nonces, msgs, strict=True)]
        back = [s.decrypt_op(n, c, b"hdr") for n, c in zip(nonces, sealed, strict=True)]
        assert _is_array(back)  # type: ignore[arg-type]
        assert cy.perform_batch(back) == msgs


@pytest.mark.parametrize("many", [False, True], ids=["ops", "decrypt_many"])
def test_a_wrong_tag_fails_its_own_op_only(cy: CyInstance, many: bool) -> None:
    with cy.aead("aes-128-gcm", KEY) as s:
        nonces = [os.urandom(12) for _ in range(6)]
        msgs = [os.urandom(40) for _ in nonces]
        sealed = s.encrypt_many(nonces, msgs, b"aad")
        sealed[3] = sealed[3][:-1] + bytes([sealed[3][-1] ^ 1])
        if many:
            out = s.submit_many(nonces, sealed, b"aad", decrypt=True).result(return_exceptions=True)
        else:
            ops = [s.decrypt_op(n, c, b"aad") for n, c in zip(nonces, sealed, strict=True)]
            out = cy.perform_batch(ops, return_exceptions=True)
        assert isinstance(out[3], InvalidTag)
        assert out[:3] + out[4:] == msgs[:3] + msgs[4:]
        with pytest.raises(InvalidTag):
            s.decrypt_many(nonces, sealed, b"aad")


@pytest.mark.parametrize("single_pass", [None, False], ids=["single-pass", "two-pass"])
def test_a_short_aad_after_a_longer_one_is_staged_zero_padded(
    cy: CyInstance, single_pass: bool | None
) -> None:
    """The second batch's AAD block reuses the first one's memory: 3 stale bytes per op
    would enter GHASH."""
    with cy.aead("aes-128-gcm", KEY, single_pass=single_pass) as s:
        for size in (40, 13, 40, 13):
            nonces = [os.urandom(12) for _ in range(8)]
            aads = [os.urandom(size) for _ in nonces]
            msgs = [os.urandom(20) for _ in nonces]
            want = [REF.encrypt(*t) for t in zip(nonces, msgs, aads, strict=True)]
            assert s.encrypt_many(nonces, msgs, aads) == want


@FORMS
def test_encrypt_many_and_decrypt_many_give_aesgcms_answers(
    cy: CyInstance, single_pass: bool | None, nonce_size: int
) -> None:
    with cy.aead("aes-128-gcm", KEY, single_pass=single_pass) as s:
        nonces = [os.urandom(nonce_size) for _ in range(33)]
        msgs = [os.urandom(64) for _ in nonces]
        for aad in (None, b"shared", [os.urandom(5) for _ in nonces]):
            aads = aad if isinstance(aad, list) else [aad] * len(nonces)
            want = [REF.encrypt(*t) for t in zip(nonces, msgs, aads, strict=True)]
            sealed = s.encrypt_many(nonces, msgs, aad)
            assert sealed == want
            assert s.decrypt_many(nonces, sealed, aad) == msgs


def test_many_takes_any_bytes_like_and_none_entries(cy: CyInstance) -> None:
    with cy.aead("aes-128-gcm", KEY) as s:
        nonce = os.urandom(12)
        got = s.encrypt_many(
            [bytearray(nonce), memoryview(nonce)],
            [bytearray(b"ab"), memoryview(b"cd")],
            [None, b""],
        )
        assert got == [REF.encrypt(nonce, b"ab", None), REF.encrypt(nonce, b"cd", None)]


def test_many_of_mixed_nonce_and_aad_sizes_gives_the_same_answers(cy: CyInstance) -> None:
    """Each size is a setup of its own: such ops go one by one, with the same results."""
    with cy.aead("aes-128-gcm", KEY) as s:
        nonces = [os.urandom(12), os.urandom(8), os.urandom(12), os.urandom(16)]
        aads = [b"", b"a", os.urandom(30), None]
        msgs = [os.urandom(10 * i) for i in range(4)]
        want = [REF.encrypt(*t) for t in zip(nonces, msgs, aads, strict=True)]
        sealed = s.encrypt_many(nonces, msgs, aads)
        assert sealed == want
        assert s.decrypt_many(nonces, sealed, aads) == msgs


def test_many_refuses_bad_arguments_before_sending(cy: CyInstance) -> None:
    pool = cy.channel.pool
    free = pool.free_bytes  # type: ignore[attr-defined]
    with cy.aead("aes-128-gcm", KEY) as s:
        n = bytes(12)
        with pytest.raises(ValueError, match="2 nonces but 1 data"):
            s.encrypt_many([n, n], [b"x"])
        with pytest.raises(ValueError, match="2 ops but 1 associated"):
            s.encrypt_many([n, n], [b"x", b"y"], [b"a"])
        with pytest.raises(TypeError, match="nonce must be bytes-like"):
            s.encrypt_many(["twelve bytes"], [b"x"])
        with pytest.raises(TypeError, match="bytes-like, not str"):
            s.encrypt_many([n], ["text"])
        buf = cy.alloc(32)
        with pytest.raises(TypeError, match="DeviceBuffer"):
            s.encrypt_many([n], [buf])
        buf.free()
        with pytest.raises(ValueError, match="nonce must be between"):
            s.encrypt_many([b""], [b"x"])
        with pytest.raises(ValueError, match="at most 240"):
            s.encrypt_many([n], [b"x"], bytes(241))
        with pytest.raises(InvalidTag):
            s.decrypt_many([n, n], [bytes(16), bytes(15)])
        with pytest.raises(ValueError, match="at least one op"):
            s.submit_many([], [])
        assert s.encrypt_many([], []) == []
    with pytest.raises(QatError, match="closed"):
        s.encrypt_many([n], [b"x"])
    assert pool.free_bytes == free  # type: ignore[attr-defined]


def test_many_checks_the_endpoints_offer_once_for_the_batch(
    cy: CyInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GCM in single pass only (gen6) takes 12-byte nonces only: refused before sending."""
    with cy.aead("aes-128-gcm", KEY) as s:
        monkeypatch.setattr(cy.channel, "offer", EndpointOffer.of(Generation.GEN6))
        with pytest.raises(UnsupportedAlgorithmError, match="8-byte nonce"):
            s.encrypt_many([bytes(8)] * 3, [b"x"] * 3)
        nonce = os.urandom(12)
        assert s.encrypt_many([nonce], [b"x"]) == [REF.encrypt(nonce, b"x", None)]
