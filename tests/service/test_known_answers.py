"""Known answers through the whole stack: section → instance → session → ring → fakedev.

The NIST CAVP subsets and RFC vectors of ``tests/vectors`` (see PROVENANCE), each run as
an application runs it: ``user_start("SSL")``, ``open_instances``, a session on the Cy
instance, a request on its ring pair, the device model answering from another thread.
Inputs take the three shapes an application can pass: bytes (copied in), a list of
pieces (a scatter-gather request), and the instance's own device buffers (zero copy).
"""

from __future__ import annotations

import hmac

import pytest
from cryptography.exceptions import InvalidSignature, InvalidTag

from qathw.errors import UnsupportedAlgorithmError
from qathw.service.cd import ChainOrder
from qathw.service.instance import CyInstance
from tests.vectors import Vector, load


def _vectors(*files: str) -> list[Vector]:
    return [v for f in files for v in load(f)]


def _run(
    cy: CyInstance, session: object, encrypt: bool, data: bytes, iv: bytes, shape: str
) -> bytes:
    op = getattr(session, "encrypt" if encrypt else "decrypt")
    if shape == "bytes":
        out = op(data, iv)
        assert isinstance(out, bytes)
        return out
    if shape == "pieces":  # a scatter-gather request: three entries
        third = max(len(data) // 3, 1)
        joined = op([data[:third], data[third : 2 * third], data[2 * third :]], iv)
        assert isinstance(joined, bytes)
        return joined
    with cy.alloc(len(data)) as src, cy.alloc(len(data)) as dst:  # zero copy, out of place
        src.write(data)
        got = op(src, iv, out=dst)
        result = dst.tobytes()
        assert got is dst
        assert src.tobytes() == data  # the source is left alone
        return result


SHAPES = ["bytes", "pieces", "device-buffers"]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(
    "v", _vectors("aes/CBCMMT128.rsp", "aes/CBCMMT192.rsp", "aes/CBCMMT256.rsp"), ids=repr
)
def test_aes_cbc(cy: CyInstance, v: Vector, shape: str) -> None:
    key = v.hex("KEY")
    with cy.cipher(f"aes-{len(key) * 8}-cbc", key) as s:
        if v["direction"] == "ENCRYPT":
            got = _run(cy, s, True, v.hex("PLAINTEXT"), v.hex("IV"), shape)
            assert got == v.hex("CIPHERTEXT")
        else:
            got = _run(cy, s, False, v.hex("CIPHERTEXT"), v.hex("IV"), shape)
            assert got == v.hex("PLAINTEXT")


@pytest.mark.parametrize(
    "v", _vectors("aes/aes-128-ctr.txt", "aes/aes-192-ctr.txt", "aes/aes-256-ctr.txt"), ids=repr
)
def test_aes_ctr_rfc3686(cy: CyInstance, v: Vector) -> None:
    key = v.hex("KEY")
    with cy.cipher(f"aes-{len(key) * 8}-ctr", key) as s:
        assert s.encrypt(v.hex("PLAINTEXT"), v.hex("IV")) == v.hex("CIPHERTEXT")
        assert s.decrypt(v.hex("CIPHERTEXT"), v.hex("IV")) == v.hex("PLAINTEXT")


@pytest.mark.parametrize("v", _vectors("aes/XTSGenAES128.rsp", "aes/XTSGenAES256.rsp"), ids=repr)
def test_aes_xts(cy: CyInstance, v: Vector) -> None:
    key = v.hex("Key")
    with cy.cipher(f"aes-{len(key) * 4}-xts", key) as s:
        pt, ct = v.hex("PT"), v.hex("CT")
        if v["direction"] == "ENCRYPT":
            assert _run(cy, s, True, pt, v.hex("i"), "device-buffers") == ct
        else:
            assert _run(cy, s, False, ct, v.hex("i"), "pieces") == pt


@pytest.mark.parametrize("name", ["des-cbc", "3des-cbc"])
def test_des_and_3des_are_refused_on_gen4_naming_what_it_offers(cy: CyInstance, name: str) -> None:
    """No gen4 stack offers DES/3DES (DPDK gen4 table, qatlib); gen2 runs them
    (tests/service/test_gen2_endpoint.py)."""
    with pytest.raises(UnsupportedAlgorithmError) as refused:
        cy.cipher(name, bytes(24))
    assert refused.value.what == f"{name} is not offered by this 4xxxvf endpoint (gen4)"
    assert refused.value.hint is not None
    assert refused.value.hint.startswith("this 4xxxvf endpoint (gen4) offers: aes-128-cbc")


def _gcm_vectors(*files: str) -> list[Vector]:
    # Every IV length: 12-byte ones go to the device, which builds J0; the others (NIST's
    # 8- and 1024-bit IVs) as the J0 the host computes, two-pass, as qatlib sends them.
    return _vectors(*files)


@pytest.mark.parametrize("single_pass", [True, False], ids=["single-pass", "two-pass"])
@pytest.mark.parametrize(
    "v", _gcm_vectors("aes/gcmEncryptExtIV128.rsp", "aes/gcmEncryptExtIV256.rsp"), ids=repr
)
def test_aes_gcm_encrypt(cy: CyInstance, v: Vector, single_pass: bool) -> None:
    key, tag = v.hex("Key"), int(v["Taglen"]) // 8
    name = f"aes-{len(key) * 8}-gcm"
    with cy.aead(name, key, tag_size=tag, single_pass=single_pass) as s:
        got = s.encrypt(v.hex("IV"), v.hex("PT"), v.hex("AAD"))
        assert got == v.hex("CT") + v.hex("Tag")


@pytest.mark.parametrize(
    "v", _gcm_vectors("aes/gcmDecrypt128.rsp", "aes/gcmDecrypt256.rsp"), ids=repr
)
def test_aes_gcm_decrypt_verifies_the_tag(cy: CyInstance, v: Vector) -> None:
    key, tag = v.hex("Key"), int(v["Taglen"]) // 8
    with cy.aead(f"aes-{len(key) * 8}-gcm", key, tag_size=tag) as s:
        data = v.hex("CT") + v.hex("Tag")
        if v.fail:
            with pytest.raises(InvalidTag):
                s.decrypt(v.hex("IV"), data, v.hex("AAD"))
        else:
            assert s.decrypt(v.hex("IV"), data, v.hex("AAD")) == v.hex("PT")


SHA_FILES = [f"sha/SHA{n}{k}.rsp" for n in (1, 224, 256, 384, 512) for k in ("ShortMsg", "LongMsg")]


@pytest.mark.parametrize("v", _vectors(*SHA_FILES), ids=repr)
def test_sha(cy: CyInstance, v: Vector) -> None:
    name = "sha" + v.source.split("SHA")[1].split("S")[0].split("L")[0]
    msg = v.hex("Msg")[: int(v["Len"]) // 8]
    with cy.hash(name) as s:
        assert s.digest(msg).hex() == v["MD"]


HMAC_CASES = [(v, f"sha{n}") for v in load("hmac/rfc4231.txt") for n in (224, 256, 384, 512)] + [
    (v, "sha1") for v in load("hmac/rfc2202.txt")
]


@pytest.mark.parametrize(("v", "name"), HMAC_CASES, ids=[f"{v!r}-{n}" for v, n in HMAC_CASES])
def test_hmac_rfc4231_and_rfc2202(cy: CyInstance, v: Vector, name: str) -> None:
    want = v.hex(f"HMAC-SHA-{name.removeprefix('sha')}")
    with cy.hmac(name, v.hex("Key"), digest_size=len(want)) as s:
        assert s.digest(v.hex("Data")) == want
        s.verify(v.hex("Data"), want)
        with pytest.raises(InvalidSignature):
            s.verify(v.hex("Data"), bytes([want[0] ^ 1]) + want[1:])


@pytest.mark.parametrize("order", list(ChainOrder))
@pytest.mark.parametrize("v", _vectors("aes/CBCMMT128.rsp")[:4], ids=repr)
def test_cipher_and_hmac_chain_agree_with_the_vectors(
    cy: CyInstance, v: Vector, order: ChainOrder
) -> None:
    key, mac_key = v.hex("KEY"), b"chain key"
    pt, ct = v.hex("PLAINTEXT"), v.hex("CIPHERTEXT")
    with cy.chain("aes-128-cbc", key, "hmac-sha256", mac_key, order=order) as s:
        got = s.encrypt(pt, v.hex("IV"))
        assert got.data == ct
        hashed = ct if order is ChainOrder.CIPHER_THEN_HASH else pt
        assert got.digest == hmac.new(mac_key, hashed, "sha256").digest()
        back = s.decrypt(ct, v.hex("IV"))
        assert back.data == pt
        # decryption hashes the other side: ciphertext in for HASH_THEN_CIPHER, plaintext out
        # for CIPHER_THEN_HASH
        hashed = pt if order is ChainOrder.CIPHER_THEN_HASH else ct
        assert back.digest == hmac.new(mac_key, hashed, "sha256").digest()
        assert s.decrypt(ct, v.hex("IV"), digest=back.digest).data == pt
        with pytest.raises(InvalidSignature):
            s.decrypt(ct, v.hex("IV"), digest=bytes(32))
