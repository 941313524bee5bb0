"""Constants-table (SHRAM) mode: configs from the firmware's table, the rest from the request.

Each constants-table request is built in qatlib's style from the full-CD request qathw
builds for the same session (``lac_sym_alg_chain.c``: ``LacAlgChain_CipherCDBuild`` and
the SHRAM request header of ``LacAlgChain_SessionInit``; offsets from
``LacSymQat_ConstantsInitLookupTables``), and must give the full-CD result and the
``cryptography``/``hashlib`` one. Byte positions are the published ones
(docs/hardware.md#la-request, #shram-constants-table).
"""

from __future__ import annotations

import hashlib
import hmac
import os

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from fakedev.engine import LaHandler
from qathw.fw.common import Status
from qathw.service import cd, offers
from qathw.service import wire as ops
from tests.engine.arena import Arena
from tests.engine.helpers import Response

D = cd.Direction
CRYPTO, INVAL = Status.CRYPTO, Status.INVALID_PARAM
KEY16 = bytes(range(16))
IV = bytes(range(100, 116))
FLAGS_LO, COMN_FLAGS, CD_PARS = 4, 6, slice(8, 24)
CIPHER_CFG_OFFSET, HASH_CFG_OFFSET = 110, 114
INNER_STATE1_SZ, INNER_STATE2_OFFSET = 121, 122
IN_SHRAM = 0x08  # serv_specif_flags bit 3, ICP_QAT_FW_CIPH_AUTH_CFG_OFFSET_IN_SHRAM_CP
DATA_16 = 0x02  # comn_req_flags bit 1, QAT_COMN_CD_FLD_TYPE_16BYTE_DATA
PARTIAL_START, UPDATE_STATE, RET_AUTH_RES = 0x01, 0x10, 0x20  # serv_specif_flags bits


def table_style(
    req: bytearray, *, cipher_qw: int | None = None, hash_qw: int | None = None, key: bytes = b""
) -> bytearray:
    """qatlib's constants-table form: 16 bytes of data (the key) instead of a CD address."""
    out = bytearray(req)
    out[FLAGS_LO] |= IN_SHRAM
    out[COMN_FLAGS] |= DATA_16
    out[CD_PARS] = key.ljust(16, b"\0")
    if cipher_qw is not None:
        out[CIPHER_CFG_OFFSET] = cipher_qw
    if hash_qw is not None:
        out[HASH_CFG_OFFSET] = hash_qw
        out[INNER_STATE2_OFFSET] = out[INNER_STATE1_SZ] // 8  # as LacSymQat_HashContentDescInit
    return out


def run(la: LaHandler, arena: Arena, req: bytearray, src: ops.Flat) -> tuple[Response, bytes]:
    resp = Response(la(bytes(req), arena.memory))
    return resp, arena.read_buffer(src)


def cbc(key: bytes, data: bytes, encrypt: bool) -> bytes:
    c = Cipher(algorithms.AES(key), modes.CBC(IV))
    ctx = c.encryptor() if encrypt else c.decryptor()
    return ctx.update(data) + ctx.finalize()


@pytest.mark.parametrize(("direction", "offset_qw"), [(D.ENCRYPT, 18), (D.DECRYPT, 21)])
def test_a_cipher_config_from_the_table_with_the_key_in_the_request_runs_as_the_full_cd(
    arena: Arena, la: LaHandler, direction: D, offset_qw: int
) -> None:
    data = os.urandom(64)
    s = cd.cipher_session("aes-128-cbc", KEY16, direction)
    full_src, table_src = arena.flat(data), arena.flat(data)
    full = ops.la_request(s, arena.put(s.cd), opaque=1, src=full_src, iv=IV)
    shram = table_style(
        ops.la_request(s, 0, opaque=2, src=table_src, iv=IV), cipher_qw=offset_qw, key=KEY16
    )
    full_resp, full_out = run(la, arena, full, full_src)
    table_resp, table_out = run(la, arena, shram, table_src)
    assert (full_resp.status, table_resp.status) == (0, 0)
    assert table_out == full_out == cbc(KEY16, data, direction == D.ENCRYPT)


@pytest.mark.parametrize(("direction", "offset_qw"), [(D.ENCRYPT, 11), (D.DECRYPT, 12)])
def test_a_des_config_from_the_table_runs_as_the_full_cd(
    arena: Arena, la_gen2: LaHandler, direction: D, offset_qw: int
) -> None:
    data, key = os.urandom(48), bytes.fromhex("0123456789abcdef")
    s = cd.cipher_session("des-cbc", key, direction, offer=offers.GEN2)
    full_src, table_src = arena.flat(data), arena.flat(data)
    full = ops.la_request(s, arena.put(s.cd), opaque=1, src=full_src, iv=IV[:8])
    shram = table_style(
        ops.la_request(s, 0, opaque=2, src=table_src, iv=IV[:8]), cipher_qw=offset_qw, key=key
    )
    full_resp, full_out = run(la_gen2, arena, full, full_src)
    table_resp, table_out = run(la_gen2, arena, shram, table_src)
    assert (full_resp.status, table_resp.status) == (0, 0)
    assert table_out == full_out != data


@pytest.mark.parametrize(
    ("name", "offset_qw"),
    [("sha1", 41), ("sha224", 48), ("sha256", 54), ("sha384", 60), ("sha512", 70)],
)
def test_a_plain_hash_starts_from_the_initial_state_the_table_holds(
    arena: Arena, la: LaHandler, name: str, offset_qw: int
) -> None:
    data = os.urandom(200)
    size = hashlib.new(name).digest_size
    s = cd.auth_session(name, digest_in_buffer=True)
    full_src, table_src = arena.flat(data + bytes(size)), arena.flat(data + bytes(size))
    full = ops.la_request(s, arena.put(s.cd), opaque=1, src=full_src)
    shram = table_style(ops.la_request(s, 0, opaque=2, src=table_src), hash_qw=offset_qw)
    full_resp, full_out = run(la, arena, full, full_src)
    table_resp, table_out = run(la, arena, shram, table_src)
    assert (full_resp.status, table_resp.status) == (0, 0)
    assert table_out == full_out == data + hashlib.new(name, data).digest()


def test_qatlibs_optimised_cd_for_aes128_cbc_hmac_sha1_runs_as_the_full_cd(
    arena: Arena, la: LaHandler
) -> None:
    """64-byte CD by address: key at 0, state1 at 16, state2 after it; configs in the table
    (cipher 18, hash 46), as ``LacAlgChain_CipherCDBuild_ForOptimisedCD`` and
    ``LacSymQat_HashOpHwBlockPtrsInit`` lay it out."""
    akey, data = b"authentication key", os.urandom(96)
    s = cd.chain_session(
        "aes-128-cbc", KEY16, D.ENCRYPT, "hmac-sha1", akey,
        order=cd.ChainOrder.CIPHER_THEN_HASH, digest_in_buffer=True,
    )  # fmt: skip
    t = s.template
    st1_at, st2_at = t[HASH_CFG_OFFSET] * 8 + 16, t[INNER_STATE2_OFFSET] * 8
    optimised = KEY16 + s.cd[st1_at : st1_at + 24] + s.cd[st2_at : st2_at + 24]
    full_src, table_src = arena.flat(data + bytes(20)), arena.flat(data + bytes(20))
    full = ops.la_request(s, arena.put(s.cd), opaque=1, src=full_src, iv=IV)
    shram = ops.la_request(s, arena.put(optimised), opaque=2, src=table_src, iv=IV)
    shram[FLAGS_LO] |= IN_SHRAM
    shram[18] = len(optimised) // 8  # content_desc_params_sz
    shram[CIPHER_CFG_OFFSET], shram[HASH_CFG_OFFSET], shram[INNER_STATE2_OFFSET] = 18, 46, 3
    full_resp, full_out = run(la, arena, full, full_src)
    table_resp, table_out = run(la, arena, shram, table_src)
    ct = cbc(KEY16, data, True)
    assert (full_resp.status, table_resp.status) == (0, 0)
    assert table_out == full_out == ct + hmac.new(akey, ct, "sha1").digest()


@pytest.mark.parametrize(
    ("name", "cipher_qw", "hash_qw"),
    [
        ("aes-128-cbc", 128, None),  # the first quadword past the 1024-byte table
        ("aes-128-cbc", 255, None),
        ("sha256", None, 127),  # the 16-byte auth setup would run past the end
        ("sha256", None, 125),  # the setup fits, its 32-byte state does not
    ],
)
def test_a_config_offset_outside_the_table_is_invalid(
    arena: Arena, la: LaHandler, name: str, cipher_qw: int | None, hash_qw: int | None
) -> None:
    if cipher_qw is not None:
        s = cd.cipher_session(name, KEY16, D.ENCRYPT)
        src = arena.flat(bytes(32))
        req = table_style(
            ops.la_request(s, 0, opaque=3, src=src, iv=IV), cipher_qw=cipher_qw, key=KEY16
        )
    else:
        s = cd.auth_session(name, digest_in_buffer=True)
        src = arena.flat(bytes(64))
        req = table_style(ops.la_request(s, 0, opaque=3, src=src), hash_qw=hash_qw)
    before = arena.read_buffer(src)
    resp, after = run(la, arena, req, src)
    assert resp.status == CRYPTO | INVAL and resp.opaque == 3
    assert after == before


def test_a_key_longer_than_the_16_bytes_of_request_data_is_invalid(
    arena: Arena, la: LaHandler
) -> None:
    s = cd.cipher_session("aes-256-cbc", bytes(32), D.ENCRYPT)
    src = arena.flat(bytes(32))
    req = table_style(ops.la_request(s, 0, opaque=4, src=src, iv=IV), cipher_qw=18, key=KEY16)
    assert run(la, arena, req, src)[0].status == CRYPTO | INVAL


def test_a_partial_hash_packet_does_not_use_the_table(arena: Arena, la: LaHandler) -> None:
    """qatlib sends partial hash packets with the full CD (``LacAlgChain_Perform``)."""
    s = cd.auth_session("sha256")
    src = arena.flat(bytes(64))
    req = ops.la_request(s, 0, opaque=5, src=src, digest_iova=arena.alloc(32))
    req[FLAGS_LO] = (req[FLAGS_LO] & ~RET_AUTH_RES) | PARTIAL_START | UPDATE_STATE
    req = table_style(req, hash_qw=54)
    assert run(la, arena, req, src)[0].status == CRYPTO | Status.UNSUPPORTED_REQUEST
