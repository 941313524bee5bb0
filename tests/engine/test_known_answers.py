"""Known answers through the host builders and the engine: NIST CAVP and RFC vectors.

Each vector is turned into a session (``qathw.service.cd``), a request (``ops``) in fake
device memory, run by the engine, and the bytes the device wrote are compared with the
published answer. Part B runs the same vectors through rings and sessions.
"""

from __future__ import annotations

import hmac

import pytest

from fakedev.engine import LaHandler
from qathw.fw.common import Status
from qathw.service import cd, gcmj0, offers
from qathw.service import wire as ops
from tests.engine.arena import Arena
from tests.engine.helpers import run_la
from tests.vectors import Vector, load

D = cd.Direction


def _vectors(*files: str) -> list[Vector]:
    return [v for f in files for v in load(f)]


def _cipher_kat(
    arena: Arena, la: LaHandler, setup: cd.LaSetup, iv: bytes, data: bytes, layout: str
) -> bytes:
    src: ops.Flat | ops.Sgl
    if layout == "flat-in-place":
        src = arena.flat(data)
        resp = run_la(arena, la, setup, src=src, iv=iv)
        out = arena.read_buffer(src)
    else:
        src = arena.sgl(data, [len(data) // 3, 5])
        dst = arena.sgl(bytes(len(data)), [7, len(data) // 2])
        resp = run_la(arena, la, setup, src=src, dst=dst, iv=iv)
        out = arena.read_buffer(dst)
        assert arena.read_buffer(src) == data  # the source is left alone
    assert resp.status == 0, la.last_internal_error
    assert resp.opaque == 0x1122334455667788
    return out


LAYOUTS = ["flat-in-place", "sgl-out-of-place"]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize(
    "v", _vectors("aes/CBCMMT128.rsp", "aes/CBCMMT192.rsp", "aes/CBCMMT256.rsp"), ids=repr
)
def test_aes_cbc(arena: Arena, la: LaHandler, v: Vector, layout: str) -> None:
    key = v.hex("KEY")
    name = f"aes-{len(key) * 8}-cbc"
    if v["direction"] == "ENCRYPT":
        s = cd.cipher_session(name, key, D.ENCRYPT)
        assert _cipher_kat(arena, la, s, v.hex("IV"), v.hex("PLAINTEXT"), layout) == v.hex(
            "CIPHERTEXT"
        )
    else:
        s = cd.cipher_session(name, key, D.DECRYPT)
        assert _cipher_kat(arena, la, s, v.hex("IV"), v.hex("CIPHERTEXT"), layout) == v.hex(
            "PLAINTEXT"
        )


# Each generation's own slice: gen4 runs CTR and XTS on UCS, gen2 on the legacy slice.
GENERATIONS = ["gen4-ucs", "gen2-legacy"]


def _endpoint(
    which: str, la: LaHandler, la_gen2: LaHandler
) -> tuple[LaHandler, offers.EndpointOffer]:
    return (la, offers.GEN4) if which == "gen4-ucs" else (la_gen2, offers.GEN2)


@pytest.mark.parametrize("generation", GENERATIONS)
@pytest.mark.parametrize("direction", list(D))
@pytest.mark.parametrize(
    "v", _vectors("aes/aes-128-ctr.txt", "aes/aes-192-ctr.txt", "aes/aes-256-ctr.txt"), ids=repr
)
def test_aes_ctr_rfc3686(
    arena: Arena, la: LaHandler, la_gen2: LaHandler, v: Vector, direction: D, generation: str
) -> None:
    handler, offer = _endpoint(generation, la, la_gen2)
    key = v.hex("KEY")
    s = cd.cipher_session(f"aes-{len(key) * 8}-ctr", key, direction, offer=offer)
    pt, ct = v.hex("PLAINTEXT"), v.hex("CIPHERTEXT")
    data, want = (pt, ct) if direction == D.ENCRYPT else (ct, pt)
    assert _cipher_kat(arena, handler, s, v.hex("IV"), data, "flat-in-place") == want


@pytest.mark.parametrize("generation", GENERATIONS)
@pytest.mark.parametrize("v", _vectors("aes/XTSGenAES128.rsp", "aes/XTSGenAES256.rsp"), ids=repr)
def test_aes_xts(
    arena: Arena, la: LaHandler, la_gen2: LaHandler, v: Vector, generation: str
) -> None:
    handler, offer = _endpoint(generation, la, la_gen2)
    key = v.hex("Key")
    name = f"aes-{len(key) * 4}-xts"
    pt, ct = v.hex("PT"), v.hex("CT")
    if v["direction"] == "ENCRYPT":
        s = cd.cipher_session(name, key, D.ENCRYPT, offer=offer)
        assert _cipher_kat(arena, handler, s, v.hex("i"), pt, "flat-in-place") == ct
    else:
        s = cd.cipher_session(name, key, D.DECRYPT, offer=offer)
        assert _cipher_kat(arena, handler, s, v.hex("i"), ct, "sgl-out-of-place") == pt


@pytest.mark.parametrize(
    "v", _vectors("tdes/TCBCMMT1.rsp", "tdes/TCBCMMT2.rsp", "tdes/TCBCMMT3.rsp"), ids=repr
)
def test_tdes_and_des_cbc_on_gen2(arena: Arena, la_gen2: LaHandler, v: Vector) -> None:
    k1, k2, k3 = v.hex("KEY1"), v.hex("KEY2"), v.hex("KEY3")
    if k1 == k2 == k3:
        name, key = "des-cbc", k1  # keying option 3: single DES
    elif k1 == k3:
        name, key = "3des-cbc", k1 + k2  # two-key: the CD gets K1 K2 K1
    else:
        name, key = "3des-cbc", k1 + k2 + k3
    pt, ct = v.hex("PLAINTEXT"), v.hex("CIPHERTEXT")
    if v["direction"] == "ENCRYPT":
        s = cd.cipher_session(name, key, D.ENCRYPT, offer=offers.GEN2)
        assert _cipher_kat(arena, la_gen2, s, v.hex("IV"), pt, "sgl-out-of-place") == ct
    else:
        s = cd.cipher_session(name, key, D.DECRYPT, offer=offers.GEN2)
        assert _cipher_kat(arena, la_gen2, s, v.hex("IV"), ct, "flat-in-place") == pt


GCM_FORMS = ["gen4-single-pass", "gen4-two-pass", "gen2-two-pass"]


def _gcm(
    arena: Arena,
    handlers: dict[str, LaHandler],
    v: Vector,
    direction: D,
    form: str,
    data: bytes,
    tag: bytes | None,
) -> tuple[int, bytes, bytes]:
    key, aad, iv = v.hex("Key"), v.hex("AAD"), v.hex("IV")
    tag_len = int(v["Taglen"]) // 8
    offer = offers.GEN2 if form.startswith("gen2") else offers.GEN4
    s = cd.gcm_session(
        f"aes-{len(key) * 8}-gcm",
        key,
        direction,
        tag_size=tag_len,
        aad_size=len(aad),
        single_pass=form.endswith("single-pass"),
        nonce_size=len(iv),  # not 12: the host computes J0 and the request goes two-pass
        offer=offer,
    )
    src = arena.flat(data)
    dst = arena.flat(bytes(len(data)))
    tag_iova = arena.put(tag or bytes(tag_len))
    req = ops.la_request(
        s,
        arena.put(s.cd),
        opaque=5,
        src=src,
        dst=dst,
        iv=gcmj0.j0(gcmj0.hash_subkey(key), iv) if len(iv) != 12 else iv,
        aad_iova=arena.put(aad) if aad else None,
        digest_iova=tag_iova,
    )
    resp = handlers[form.partition("-")[0]](bytes(req), arena.memory)
    return resp[6], arena.get(dst.iova, len(data)), arena.get(tag_iova, tag_len)


@pytest.mark.parametrize("form", GCM_FORMS)
@pytest.mark.parametrize(
    "v", _vectors("aes/gcmEncryptExtIV128.rsp", "aes/gcmEncryptExtIV256.rsp"), ids=repr
)
def test_aes_gcm_encrypt(
    arena: Arena, la: LaHandler, la_gen2: LaHandler, v: Vector, form: str
) -> None:
    handlers = {"gen4": la, "gen2": la_gen2}
    status, ct, tag = _gcm(arena, handlers, v, D.ENCRYPT, form, v.hex("PT"), None)
    assert status == 0, la.last_internal_error
    assert (ct, tag) == (v.hex("CT"), v.hex("Tag"))


@pytest.mark.parametrize("form", GCM_FORMS)
@pytest.mark.parametrize("v", _vectors("aes/gcmDecrypt128.rsp", "aes/gcmDecrypt256.rsp"), ids=repr)
def test_aes_gcm_decrypt(
    arena: Arena, la: LaHandler, la_gen2: LaHandler, v: Vector, form: str
) -> None:
    handlers = {"gen4": la, "gen2": la_gen2}
    status, pt, _ = _gcm(arena, handlers, v, D.DECRYPT, form, v.hex("CT"), v.hex("Tag"))
    if v.fail:
        assert status == Status.CRYPTO  # the tag does not verify: CRYPTO and nothing else
    else:
        assert status == 0
        assert pt == v.hex("PT")


SHA_FILES = [f"sha/SHA{n}{k}.rsp" for n in (1, 224, 256, 384, 512) for k in ("ShortMsg", "LongMsg")]


@pytest.mark.parametrize("v", _vectors(*SHA_FILES), ids=repr)
def test_sha(arena: Arena, la: LaHandler, v: Vector) -> None:
    name = "sha" + v.source.split("SHA")[1].split("S")[0].split("L")[0]
    msg = v.hex("Msg")[: int(v["Len"]) // 8]
    s = cd.auth_session(name)
    digest = arena.alloc(64)
    resp = run_la(arena, la, s, src=arena.flat(msg), digest_iova=digest)
    assert resp.status == 0
    assert arena.get(digest, s.digest_size).hex() == v["MD"]


HMAC_CASES = [
    (v, f"hmac-sha{n}") for v in load("hmac/rfc4231.txt") for n in (224, 256, 384, 512)
] + [(v, "hmac-sha1") for v in load("hmac/rfc2202.txt")]


def _hmac_expected(v: Vector, name: str) -> bytes:
    n = name.split("sha")[1]
    return v.hex(f"HMAC-SHA-{n}")


@pytest.mark.parametrize(("v", "name"), HMAC_CASES, ids=[f"{v!r}-{n}" for v, n in HMAC_CASES])
def test_hmac_rfc_vectors(arena: Arena, la: LaHandler, v: Vector, name: str) -> None:
    want = _hmac_expected(v, name)
    s = cd.auth_session(name, v.hex("Key"), digest_size=len(want))
    digest = arena.alloc(64)
    resp = run_la(arena, la, s, src=arena.flat(v.hex("Data")), digest_iova=digest)
    assert resp.status == 0
    assert arena.get(digest, len(want)) == want


@pytest.mark.parametrize(
    ("v", "name"), HMAC_CASES[:8], ids=[f"{v!r}-{n}" for v, n in HMAC_CASES[:8]]
)
def test_hmac_verify_accepts_the_right_digest_and_refuses_a_flipped_bit(
    arena: Arena, la: LaHandler, v: Vector, name: str
) -> None:
    want = _hmac_expected(v, name)
    s = cd.auth_session(name, v.hex("Key"), verify=True, digest_size=len(want))
    data = arena.flat(v.hex("Data"))
    assert run_la(arena, la, s, src=data, digest_iova=arena.put(want)).status == 0
    bad = bytes([want[0] ^ 1]) + want[1:]
    assert run_la(arena, la, s, src=data, digest_iova=arena.put(bad)).status == Status.CRYPTO


@pytest.mark.parametrize(("v", "name"), HMAC_CASES, ids=[f"{v!r}-{n}" for v, n in HMAC_CASES])
def test_rfc_vector_files_agree_with_python_hmac(v: Vector, name: str) -> None:
    want = _hmac_expected(v, name)
    full = hmac.new(v.hex("Key"), v.hex("Data"), name.removeprefix("hmac-")).digest()
    assert full[: len(want)] == want
