"""What each generation's slices run, and the message rules the upstream stacks rely on.

The fake executes only what its generation and capability word offer (docs/fidelity.md,
"Messages, slices and services"); the host builders refuse the rest before sending.
"""

from __future__ import annotations

import struct

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from fakedev.engine import LaHandler, primitives
from qathw.errors import UnsupportedAlgorithmError
from qathw.fw.common import Status
from qathw.fw.sgl import SGL_MAX_ENTRIES
from qathw.ids import Generation, SliceForm
from qathw.service import cd, offers
from qathw.service import wire as ops
from qathw.transport.pfvf import Capability
from tests.engine.arena import Arena
from tests.engine.helpers import run_la

D = cd.Direction
KEY = bytes(range(32))
REFUSED = Status.CRYPTO | Status.UNSUPPORTED_REQUEST
# A 4xxx whose UCS slice is fused off: Linux get_accel_cap clears these three.
UCS_FUSED_OFF = int(
    Capability.SYMMETRIC | Capability.CIPHER | Capability.AUTHENTICATION | Capability.SHA3
)


def _status(arena: Arena, la: LaHandler, s: cd.LaSetup, length: int = 32) -> int:
    resp = run_la(arena, la, s, src=arena.flat(bytes(length)), iv=bytes(s.iv_size))
    return resp.status


@pytest.mark.parametrize("name", ["des-cbc", "3des-cbc"])
def test_gen4_offers_no_des_or_3des(arena: Arena, la: LaHandler, name: str) -> None:
    """DPDK's gen4 capability table and qatlib's gen4 path have no DES/3DES."""
    s = cd.cipher_session(
        name, KEY[:8] if name == "des-cbc" else KEY[:24], D.ENCRYPT, offer=offers.GEN2
    )
    assert _status(arena, la, s) == REFUSED
    with pytest.raises(UnsupportedAlgorithmError, match=r"this 4xxx endpoint \(gen4\)") as e:
        cd.cipher_session(name, KEY[:8] if name == "des-cbc" else KEY[:24], D.ENCRYPT)
    assert e.value.hint is not None and "aes-128-cbc" in e.value.hint
    assert "des" not in e.value.hint


@pytest.mark.parametrize("name", ["des-cbc", "3des-cbc"])
def test_gen2_runs_des_and_3des(arena: Arena, la_gen2: LaHandler, name: str) -> None:
    s = cd.cipher_session(
        name, KEY[:8] if name == "des-cbc" else KEY[:24], D.ENCRYPT, offer=offers.GEN2
    )
    assert _status(arena, la_gen2, s) == 0


@pytest.mark.parametrize("name", ["aes-128-xts", "aes-256-ctr"])
def test_gen4_runs_xts_and_ctr_on_the_ucs_slice_only(
    arena: Arena, la: LaHandler, name: str
) -> None:
    """Linux (qat_algs.c on AES_V2) and qatlib (LacCipher_GetCipherSliceType) use UCS."""
    key = KEY if name.endswith("xts") else KEY[:32]
    assert cd.cipher_session(name, key, D.ENCRYPT).template[5] >> 6 & 3 == 1  # SLICE_TYPE UCS
    legacy = cd.cipher_session(name, key, D.ENCRYPT, offer=offers.GEN2)
    assert _status(arena, la, legacy) == REFUSED
    with pytest.raises(UnsupportedAlgorithmError, match="legacy slice"):
        cd.cipher_session(name, key, D.ENCRYPT, form=SliceForm.LEGACY)


def test_gen4_runs_two_pass_gcm_on_the_ucs_slice_only(arena: Arena, la: LaHandler) -> None:
    legacy = cd.gcm_session(
        "aes-128-gcm", KEY[:16], D.ENCRYPT, single_pass=False, offer=offers.GEN2
    )
    req = ops.la_request(
        legacy, arena.put(legacy.cd), opaque=1, src=arena.flat(bytes(16)), iv=bytes(12),
        digest_iova=arena.alloc(16),
    )  # fmt: skip
    assert la(bytes(req), arena.memory)[6] == REFUSED


def test_gen2_has_no_ucs_slice_and_no_single_pass(arena: Arena, la_gen2: LaHandler) -> None:
    ucs = cd.cipher_session("aes-128-ctr", KEY[:16], D.ENCRYPT)
    assert _status(arena, la_gen2, ucs) == REFUSED
    spc = cd.gcm_session("aes-128-gcm", KEY[:16], D.ENCRYPT, single_pass=True)
    req = ops.la_request(
        spc, arena.put(spc.cd), opaque=1, src=arena.flat(bytes(16)), iv=bytes(12),
        digest_iova=arena.alloc(16),
    )  # fmt: skip
    assert la_gen2(bytes(req), arena.memory)[6] == REFUSED
    with pytest.raises(UnsupportedAlgorithmError, match=r"single-pass .*\(gen2\)"):
        cd.gcm_session("aes-128-gcm", KEY[:16], D.ENCRYPT, single_pass=True, offer=offers.GEN2)


def test_a_clear_aes_v2_capability_takes_the_ucs_slice_away(arena: Arena) -> None:
    """A 4xxx with its UCS slice fused off reports no AES_V2 and runs no UCS request."""
    la = LaHandler(generation=Generation.GEN4, capabilities=UCS_FUSED_OFF)
    assert _status(arena, la, cd.cipher_session("aes-128-ctr", KEY[:16], D.ENCRYPT)) == REFUSED
    assert _status(arena, la, cd.cipher_session("aes-128-cbc", KEY[:16], D.ENCRYPT)) == 0
    fused = offers.EndpointOffer(Generation.GEN4, "4xxxvf", UCS_FUSED_OFF)
    with pytest.raises(UnsupportedAlgorithmError, match="aes-128-xts is not offered"):
        cd.cipher_session("aes-128-xts", KEY, D.ENCRYPT, offer=fused)
    with pytest.raises(UnsupportedAlgorithmError, match="single-pass"):
        cd.gcm_session("aes-128-gcm", KEY[:16], D.ENCRYPT, single_pass=True, offer=fused)


def test_single_pass_gcm_takes_only_a_12_byte_iv(arena: Arena, la: LaHandler) -> None:
    """qatlib (LAC_CIPHER_SPC_IV_SIZE) and DPDK (is_iv12B) send single pass with 12-byte IVs."""
    s = cd.gcm_session("aes-128-gcm", KEY[:16], D.ENCRYPT, single_pass=True)
    req = ops.la_request(
        s, arena.put(s.cd), opaque=1, src=arena.flat(bytes(16)), iv=bytes(12),
        digest_iova=arena.alloc(16),
    )  # fmt: skip
    struct.pack_into("<H", req, 4, struct.unpack_from("<H", req, 4)[0] & ~(1 << 11))  # J0
    assert la(bytes(req), arena.memory)[6] == REFUSED


def test_des_decrypt_with_no_convert_runs_as_qatlib_sends_it(
    arena: Arena, la_gen2: LaHandler
) -> None:
    """qatlib's icp_qat_alg_info gives DES/3DES decryption NO_CONVERT; DPDK KEY_CONVERT."""
    pt, iv = bytes(range(32)), bytes(8)
    from fakedev.engine.compat import TripleDES

    ct = Cipher(TripleDES(KEY[:24]), modes.CBC(iv)).encryptor().update(pt)
    s = cd.cipher_session("3des-cbc", KEY[:24], D.DECRYPT, offer=offers.GEN2)
    cd_bytes = bytearray(s.cd)
    struct.pack_into("<I", cd_bytes, 0, struct.unpack_from("<I", cd_bytes, 0)[0] & ~(1 << 9))
    qatlib_style = cd.LaSetup(bytes(cd_bytes), s.template, cipher=s.cipher, iv_size=8)
    src = arena.flat(ct)
    assert run_la(arena, la_gen2, qatlib_style, src=src, iv=iv).status == 0
    assert arena.get(src.iova, 32) == pt


def test_a_ucs_request_may_leave_the_cipher_slice_chain_byte_zero(
    arena: Arena, la: LaHandler
) -> None:
    """qatlib's LacSymQat_CipherCtrlBlockWrite sets next/curr only for non-UCS slices."""
    s = cd.cipher_session("aes-128-ctr", KEY[:16], D.ENCRYPT)
    template = bytearray(s.template)
    template[111] = 0  # cd_ctrl.next_curr_id_cipher
    qatlib_style = cd.LaSetup(s.cd, bytes(template), cipher=s.cipher, iv_size=16)
    data = bytes(range(48))
    src = arena.flat(data)
    assert run_la(arena, la, qatlib_style, src=src, iv=bytes(16)).status == 0
    want = Cipher(algorithms.AES(KEY[:16]), modes.CTR(bytes(16))).encryptor().update(data)
    assert arena.get(src.iova, 48) == want


@pytest.mark.parametrize("single_pass", [True, False], ids=["single-pass", "two-pass"])
def test_gcm_aad_is_read_in_whole_16_byte_blocks(
    arena: Arena, la: LaHandler, single_pass: bool
) -> None:
    """The device hashes round16(len) AAD bytes: stale padding changes the tag."""
    aad, data, nonce = b"13-byte TLS h", b"record", bytes(12)
    s = cd.gcm_session(
        "aes-128-gcm", KEY[:16], D.ENCRYPT, aad_size=len(aad), single_pass=single_pass
    )
    tags = []
    for pad in (bytes(3), b"\xaa\xbb\xcc"):
        tag = arena.alloc(16)
        req = ops.la_request(
            s, arena.put(s.cd), opaque=1, src=arena.flat(data), iv=nonce,
            aad_iova=arena.put(aad + pad), digest_iova=tag,
        )  # fmt: skip
        assert la(bytes(req), arena.memory)[6] == 0
        tags.append(arena.get(tag, 16))
    assert tags[0] == AESGCM(KEY[:16]).encrypt(nonce, data, aad)[-16:]
    enc = Cipher(algorithms.AES(KEY[:16]), modes.ECB()).encryptor()
    h = enc.update(bytes(16))
    _, stale = primitives.gcm(
        enc, h, nonce + b"\0\0\0\1", aad + b"\xaa\xbb\xcc", data, True, aad_len=len(aad)
    )
    assert tags[1] == stale != tags[0]


def test_sgls_stay_below_256_entries_as_qatlib_does(arena: Arena, la: LaHandler) -> None:
    s = cd.cipher_session("aes-128-ctr", KEY[:16], D.ENCRYPT)
    region = arena.alloc(16)
    desc = bytearray(ops.sgl_descriptor([(region, 16)] * SGL_MAX_ENTRIES))
    struct.pack_into("<I", desc, 8, SGL_MAX_ENTRIES + 1)  # num_bufs one past the limit
    desc += desc[-16:]
    src = ops.Sgl(arena.put(bytes(desc), align=8), 16 * (SGL_MAX_ENTRIES + 1))
    assert run_la(arena, la, s, src=src, iv=bytes(16)).status & Status.INVALID_PARAM
