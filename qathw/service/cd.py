"""Content descriptors and request templates: a session's algorithm as QAT bytes.

A QAT symmetric request points at a *content descriptor* (CD) in DMA memory: the slice
configuration words, the key, the hash states. Its header and control block (``cd_ctrl``)
say which command runs, where in the CD each block is, and how the slices chain. All of
that is fixed for a session, so it is built once here as a :class:`LaSetup` (CD bytes plus
a 128-byte request template); :mod:`qathw.service.wire` then fills the per-operation
fields of a copy of the template.

Which slice runs a cipher is the endpoint's (:class:`~qathw.service.offers.EndpointOffer`,
from the generation table; a builder told nothing assumes a whole gen4 endpoint). The
forms follow the upstream stacks (docs/hardware.md#content-descriptors):

* the legacy cipher slice (8-byte config, key): AES-CBC everywhere; on gen2 also AES-CTR,
  AES-XTS (key1 ‖ key2), DES-CBC, 3DES-CBC and the two-pass GCM cipher block; decryption
  with ``KEY_CONVERT`` (the slice derives the decryption key schedule).
* the UCS slice (16-byte config, key padded to 16 bytes), gen4: AES-CTR (always the
  encrypt direction), AES-XTS in the kernel's form (only key1 goes to the device,
  decryption gets the reversed key with ``NO_CONVERT``, and the caller encrypts the tweak
  with key2 itself: :meth:`LaSetup.ucs_xts_tweak`), and the GCM cipher block.
* AES-GCM: single pass (one CIPHER command in AEAD mode, gen4) for 12-byte nonces where
  the endpoint offers it; otherwise two-pass (CTR cipher block + GALOIS_128 auth block,
  CIPHER_HASH to encrypt and HASH_CIPHER to decrypt), which also takes a J0 the host
  computed from a nonce of any other length.
* SHA: auth mode 0 with the FIPS initial state; HMAC: mode 1 with precomputed states;
  ``inner_res_sz`` is the (truncated) digest size, as Linux and DPDK set it.
* Blocks are packed tightly, as DPDK does; ``content_desc_params_sz`` is the CD size in
  quadwords, rounded up.

Compression needs no CD: the gen4 slice configuration words travel inline in the
request (:func:`compression_session`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from qathw import aeskey, sha
from qathw.errors import UnsupportedAlgorithmError
from qathw.fw import comp, comp20, hw, la
from qathw.fw.common import (
    CD_FLD_TYPE_16BYTE_DATA,
    CD_FLD_TYPE_64BIT_ADR,
    HDR_FLAG_VALID,
    PTR_TYPE_FLAT,
    REQ_CD_ADDR_FIELD,
    REQ_CD_ADDR_OFFSET,
    ServiceType,
    Slice,
    comn_req_flags,
    next_curr,
)
from qathw.ids import SliceForm
from qathw.service.algorithms import (
    AeadAlgorithm,
    CipherAlgorithm,
    CompressionAlgorithm,
    Family,
    HashAlgorithm,
    HmacAlgorithm,
    Huffman,
    aead,
    auth,
    cipher,
    lookup,
)
from qathw.service.offers import GCM_SPC_NONCE_SIZE, GEN4, EndpointOffer


class Direction(enum.Enum):
    """Which way a cipher or AEAD runs."""

    ENCRYPT = "encrypt"
    DECRYPT = "decrypt"


class ChainOrder(enum.Enum):
    """Order of the slices in a cipher + hash chain.

    ``CIPHER_THEN_HASH`` (command CIPHER_HASH) hashes the cipher's output: encrypt-then-MAC
    on the sender, or decrypt-then-verify for MAC-then-encrypt protocols.
    ``HASH_THEN_CIPHER`` (HASH_CIPHER) hashes the input before the cipher runs: verify-then-
    decrypt for encrypt-then-MAC, or MAC-then-encrypt on the sender.
    """

    CIPHER_THEN_HASH = "cipher-then-hash"
    HASH_THEN_CIPHER = "hash-then-cipher"


__all__ = [
    "ChainOrder",
    "CompDirection",
    "CompSetup",
    "Direction",
    "LaSetup",
    "SliceForm",
    "auth_session",
    "chain_session",
    "cipher_session",
    "compression_session",
    "gcm_session",
]


_put_cd_addr = REQ_CD_ADDR_FIELD.pack_into


@dataclass(frozen=True)
class LaSetup:
    """A session's content descriptor and request template (LA service).

    Attributes:
        cd: the content descriptor bytes (a multiple of 8) to place in DMA memory.
        template: the 128-byte request template; the CD address is filled in by
            :meth:`request`, the per-operation fields by :mod:`qathw.service.wire`.
        cipher: the cipher or AEAD, if any.
        auth: the hash or HMAC, if any.
        direction: cipher direction, if there is a cipher.
        iv_size: IV bytes each operation must supply (0: none).
        digest_size: digest or tag bytes produced or checked (0: none).
        verify: the device compares the digest instead of writing it.
        digest_in_buffer: the digest sits in the data right after the auth region.
        block_size: the data length must be a multiple of this (1: any length).
        aad_size: GCM associated data bytes per operation.
    """

    cd: bytes
    template: bytes
    cipher: CipherAlgorithm | AeadAlgorithm | None = None
    auth: HashAlgorithm | HmacAlgorithm | None = None
    direction: Direction | None = None
    iv_size: int = 0
    digest_size: int = 0
    verify: bool = False
    digest_in_buffer: bool = False
    block_size: int = 1
    aad_size: int = 0
    tweak_key: bytes | None = field(default=None, repr=False)

    def request(self, cd_iova: int) -> bytearray:
        """A fresh copy of the template pointing at the CD placed at ``cd_iova``.

        Raises:
            ValueError: ``cd_iova`` is negative, too large, or not 8-byte aligned.
        """
        if not 0 <= cd_iova < 1 << 64 or cd_iova % 8:
            raise ValueError(f"content descriptor address {cd_iova:#x} must be 8-byte aligned")
        req = bytearray(self.template)
        _put_cd_addr(req, REQ_CD_ADDR_OFFSET, cd_iova)
        return req

    def ucs_xts_tweak(self, iv: bytes) -> bytes:
        """For a UCS-form XTS session: the tweak encrypted with key2, the IV the device takes.

        Raises:
            ValueError: not a UCS-form XTS session, or ``iv`` is not 16 bytes.
        """
        if self.tweak_key is None:
            raise ValueError("only UCS-form XTS sessions take a pre-encrypted tweak")
        if len(iv) != 16:
            raise ValueError(f"the XTS tweak is 16 bytes, got {len(iv)}")
        enc = Cipher(algorithms.AES(self.tweak_key), modes.ECB()).encryptor()
        return enc.update(iv) + enc.finalize()


# --- building blocks ---------------------------------------------------------------------


def _round8(n: int) -> int:
    return hw.round_up(n, 8)


def _header(cmd: la.LaCmd, flags: int) -> la.icp_qat_fw_la_bulk_req:
    req = la.icp_qat_fw_la_bulk_req()
    req.comn_hdr.service_cmd_id = cmd
    req.comn_hdr.service_type = ServiceType.LA
    req.comn_hdr.hdr_flags = HDR_FLAG_VALID
    req.comn_hdr.serv_specif_flags = flags
    req.comn_hdr.comn_req_flags = comn_req_flags(CD_FLD_TYPE_64BIT_ADR, PTR_TYPE_FLAT)
    return req


def _finish(req: la.icp_qat_fw_la_bulk_req, cd: bytearray) -> tuple[bytes, bytes]:
    padded = bytes(cd) + b"\0" * (_round8(len(cd)) - len(cd))
    if len(padded) // 8 > 0xFF:
        raise ValueError("content descriptor larger than 255 quadwords")
    req.cd_pars.s.content_desc_params_sz = len(padded) // 8
    return padded, bytes(req)


def _cipher_config(config: int, form: SliceForm, upper: int | None = None) -> bytes:
    """A cipher block's config, in the slice's form; the key follows it.

    ``upper``: single pass (UCS), the AAD-size word after the config value.
    """
    block = bytearray(hw.UCS_CIPHER_CONFIG_SZ if form == SliceForm.UCS else hw.CIPHER_CONFIG_SZ)
    hw.CIPHER_CONFIG_FIELD.pack_into(block, 0, config)
    if upper is not None:
        hw.CIPHER_CONFIG_UPPER_FIELD.pack_into(block, hw.CIPHER_CONFIG_UPPER_OFFSET, upper)
    return bytes(block)


def _auth_setup(config: int, counter: int) -> bytes:
    """The auth setup block (config word, big-endian counter); state1 follows it."""
    block = bytearray(hw.AUTH_SETUP_SZ)
    hw.AUTH_CONFIG_FIELD.pack_into(block, 0, config)
    hw.AUTH_COUNTER_FIELD.pack_into(block, hw.AUTH_COUNTER_OFFSET, counter)
    return bytes(block)


def _tdes_key(key: bytes) -> bytes:
    """3DES key as the slice takes it: 24 bytes (K1 K2 K1 for 16, K1 K1 K1 for 8)."""
    if len(key) == 16:
        return key + key[:8]
    if len(key) == 8:
        return key * 3
    return key


@dataclass(frozen=True)
class _CipherBlock:
    data: bytes  # config + key as placed in the CD
    key_sz_qw: int
    state_sz_qw: int
    form: SliceForm


def _cipher_block(
    alg: CipherAlgorithm, key: bytes, direction: Direction, form: SliceForm
) -> _CipherBlock:
    mode = alg.mode
    enc = direction == Direction.ENCRYPT
    if mode == hw.CipherMode.CTR:
        # CTR runs the block cipher forward both ways (docs/hardware.md#content-descriptors).
        dir_, convert = hw.CipherDir.ENCRYPT, hw.CipherConvert.NO_CONVERT
    elif enc:
        dir_, convert = hw.CipherDir.ENCRYPT, hw.CipherConvert.NO_CONVERT
    elif form == SliceForm.UCS:
        # The UCS slice does not convert keys: it takes the reversed key (kernel XTS path).
        dir_, convert = hw.CipherDir.DECRYPT, hw.CipherConvert.NO_CONVERT
    else:
        dir_, convert = hw.CipherDir.DECRYPT, hw.CipherConvert.KEY_CONVERT

    if alg.family == Family.TDES:
        slice_key = _tdes_key(key)
    elif mode == hw.CipherMode.XTS and form == SliceForm.UCS:
        key1 = key[: len(key) // 2]
        slice_key = key1 if enc else aeskey.reverse_key(key1)
    elif mode != hw.CipherMode.CTR and form == SliceForm.UCS and not enc:
        slice_key = aeskey.reverse_key(key)
    else:
        slice_key = key
    config = hw.cipher_config(mode, alg.hw_algo(len(key)), convert, dir_)
    if form == SliceForm.UCS:
        padded = slice_key + b"\0" * (hw.round_up(len(slice_key), 16) - len(slice_key))
        data = _cipher_config(config, form) + padded
        key_qw = len(padded) // 8
    else:
        data = _cipher_config(config, form) + slice_key
        key_qw = len(slice_key) // 8
    return _CipherBlock(data, key_qw, alg.block_size // 8, form)


@dataclass(frozen=True)
class _AuthBlock:
    data: bytes
    state1_sz: int  # bytes as recorded in cd_ctrl (rounded to 8)
    state2_sz: int
    final_sz: int
    inner_res_sz: int


def _auth_block(alg: HashAlgorithm | HmacAlgorithm, key: bytes | None, digest: int) -> _AuthBlock:
    h = alg.hash if isinstance(alg, HmacAlgorithm) else alg
    s = h.sha
    if isinstance(alg, HmacAlgorithm):
        if key is None:
            raise ValueError(f"{alg.name} needs a key")
        state1, state2 = sha.hmac_precompute(s, key)
        mode, counter = hw.AuthMode.MODE1, s.block_size
    else:
        state1, state2 = s.initial_state, b""
        mode, counter = hw.AuthMode.MODE0, 0
    st1 = state1.ljust(_round8(len(state1)), b"\0")
    st2 = state2.ljust(_round8(len(state2)), b"\0")
    setup = _auth_setup(hw.auth_config(mode, h.auth_algo, digest), counter)
    # inner_res_sz is the truncated size, as Linux (qat_alg_aead_init_enc_session) and DPDK
    # (qat_sym_cd_auth_set) set it.
    return _AuthBlock(setup + st1 + st2, len(st1), len(st2), digest, digest)


def _galois_block(key: bytes, aad_size: int, tag: int) -> _AuthBlock:
    enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    h_key = enc.update(bytes(hw.GALOIS_H_SZ)) + enc.finalize()  # H = E(K, 0^128)
    config = hw.auth_config(hw.AuthMode.MODE1, hw.AuthAlgo.GALOIS_128, tag)
    setup = _auth_setup(config, 16)  # counter BE32(16): docs/hardware.md#content-descriptors
    state1 = b"\0" * hw.STATE1_SZ[hw.AuthAlgo.GALOIS_128]
    # state2 = H ‖ len(A) (the AAD length opens it) ‖ E(K, CTR0) (device-filled)
    state2 = bytearray(hw.GALOIS_H_SZ + hw.GALOIS_LEN_A_SZ + hw.GALOIS_E_CTR0_SZ)
    state2[: hw.GALOIS_H_SZ] = h_key
    hw.GALOIS_AAD_LEN_FIELD.pack_into(state2, hw.GALOIS_LEN_A_OFFSET, aad_size)
    return _AuthBlock(setup + state1 + bytes(state2), len(state1), len(state2), tag, tag)


def _set_cipher_ctrl(req: la.icp_qat_fw_la_bulk_req, blk: _CipherBlock, offset: int) -> None:
    c = req.cd_ctrl
    c.cipher_state_sz = blk.state_sz_qw
    c.cipher_key_sz = blk.key_sz_qw
    c.cipher_cfg_offset = offset // 8


def _set_auth_ctrl(req: la.icp_qat_fw_la_bulk_req, blk: _AuthBlock, offset: int) -> None:
    c = req.cd_ctrl
    c.hash_cfg_offset = offset // 8
    c.inner_state1_sz = blk.state1_sz
    c.inner_state2_offset = (offset + hw.AUTH_SETUP_SZ + blk.state1_sz) // 8
    c.inner_state2_sz = blk.state2_sz
    c.final_sz = blk.final_sz
    c.inner_res_sz = blk.inner_res_sz


def _set_auth_params(req: la.icp_qat_fw_la_bulk_req, digest: int) -> None:
    params = la.icp_qat_fw_la_auth_req_params.from_buffer(req, la.AUTH_REQ_PARAMS_OFFSET)
    params.auth_res_sz = digest


# --- sessions ----------------------------------------------------------------------------


def cipher_session(
    name: str,
    key: object,
    direction: Direction,
    *,
    form: SliceForm | None = None,
    offer: EndpointOffer = GEN4,
) -> LaSetup:
    """A cipher-only session (command CIPHER).

    Args:
        name: a cipher from the catalogue (``aes-128-cbc``, ``des-cbc``, ...).
        key: the key (XTS: key1 ‖ key2; 3DES: 8, 16 or 24 bytes).
        direction: encrypt or decrypt.
        form: the slice, if not the endpoint's default for this cipher.
        offer: what the endpoint runs.

    Raises:
        UnsupportedAlgorithmError: ``name`` is not a supported cipher, or the endpoint
            does not run it (on ``form``).
        ValueError / TypeError: bad key.
    """
    alg = cipher(name)
    k = alg.check_key(key)
    form = offer.cipher_form(alg, form)
    blk = _cipher_block(alg, k, direction, form)
    flags = la.la_flags(iv_inline=True, slice_type=_slice_type(form))
    req = _header(la.LaCmd.CIPHER, flags)
    _set_cipher_ctrl(req, blk, 0)
    req.cd_ctrl.next_curr_id_cipher = next_curr(Slice.DRAM_WR, Slice.CIPHER)
    cd, template = _finish(req, bytearray(blk.data))
    tweak = k[len(k) // 2 :] if alg.mode == hw.CipherMode.XTS and form == SliceForm.UCS else None
    return LaSetup(
        cd,
        template,
        cipher=alg,
        direction=direction,
        iv_size=alg.iv_size,
        block_size=1 if alg.is_stream else alg.block_size,
        tweak_key=tweak,
    )


def _slice_type(form: SliceForm) -> int:
    return la.SLICE_TYPE_UCS if form == SliceForm.UCS else la.SLICE_TYPE_LEGACY


def auth_session(
    name: str,
    key: object = None,
    *,
    verify: bool = False,
    digest_size: int | None = None,
    digest_in_buffer: bool = False,
) -> LaSetup:
    """A hash or HMAC session (command AUTH).

    Args:
        name: ``sha1`` .. ``sha512`` (no key) or ``hmac-sha1`` .. ``hmac-sha512`` (key).
        key: the HMAC key; must be None for a plain hash.
        verify: compare against a digest supplied with each operation instead of
            producing one (a mismatch fails the operation).
        digest_size: truncate the digest (default: full length).
        digest_in_buffer: the digest lives in the data right after the hashed region.

    Raises:
        UnsupportedAlgorithmError: ``name`` is not a supported hash.
        ValueError / TypeError: a key for a plain hash, no key for HMAC, bad digest size.
    """
    alg = auth(name)
    k = _check_auth_key(alg, key)
    digest = alg.check_digest_size(digest_size)
    blk = _auth_block(alg, k, digest)
    flags = la.la_flags(
        ret_auth_res=not verify, cmp_auth_res=verify, digest_in_buffer=digest_in_buffer
    )
    req = _header(la.LaCmd.AUTH, flags)
    _set_auth_ctrl(req, blk, 0)
    req.cd_ctrl.next_curr_id_auth = next_curr(Slice.DRAM_WR, Slice.AUTH)
    _set_auth_params(req, digest)
    cd, template = _finish(req, bytearray(blk.data))
    return LaSetup(
        cd,
        template,
        auth=alg,
        digest_size=digest,
        verify=verify,
        digest_in_buffer=digest_in_buffer,
    )


def _check_auth_key(alg: HashAlgorithm | HmacAlgorithm, key: object) -> bytes | None:
    if isinstance(alg, HmacAlgorithm):
        if key is None:
            raise ValueError(f"{alg.name} needs a key")
        return alg.check_key(key)
    if key is not None:
        raise ValueError(f"{alg.name} is a plain hash and takes no key (use hmac-{alg.name})")
    return None


def _chained(
    flags: int, cblk: _CipherBlock, ablk: _AuthBlock, *, cipher_first: bool
) -> tuple[la.icp_qat_fw_la_bulk_req, bytearray]:
    """A two-slice request and its CD: cipher then auth (CIPHER_HASH) or the reverse.

    The first block sits at the CD start, the second at the next quadword; the slice
    chain runs first -> second -> DRAM_WR (docs/hardware.md#la-request).
    """
    first, second = (cblk, ablk) if cipher_first else (ablk, cblk)
    req = _header(la.LaCmd.CIPHER_HASH if cipher_first else la.LaCmd.HASH_CIPHER, flags)
    cd = bytearray(first.data)
    second_off = _round8(len(cd))
    cd += b"\0" * (second_off - len(cd)) + second.data
    cipher_off, auth_off = (0, second_off) if cipher_first else (second_off, 0)
    _set_cipher_ctrl(req, cblk, cipher_off)
    _set_auth_ctrl(req, ablk, auth_off)
    first_slice, second_slice = (
        (Slice.CIPHER, Slice.AUTH) if cipher_first else (Slice.AUTH, Slice.CIPHER)
    )
    first_next = next_curr(second_slice, first_slice)
    second_next = next_curr(Slice.DRAM_WR, second_slice)
    if cipher_first:
        req.cd_ctrl.next_curr_id_cipher, req.cd_ctrl.next_curr_id_auth = first_next, second_next
    else:
        req.cd_ctrl.next_curr_id_auth, req.cd_ctrl.next_curr_id_cipher = first_next, second_next
    return req, cd


def chain_session(
    cipher_name: str,
    cipher_key: object,
    direction: Direction,
    auth_name: str,
    auth_key: object = None,
    *,
    order: ChainOrder,
    verify: bool = False,
    digest_size: int | None = None,
    digest_in_buffer: bool = False,
    form: SliceForm | None = None,
    offer: EndpointOffer = GEN4,
) -> LaSetup:
    """A cipher + hash chain in one request (CIPHER_HASH or HASH_CIPHER).

    The CD holds the blocks in chain order, as DPDK lays them out.

    Args:
        cipher_name: a cipher from the catalogue.
        cipher_key: its key.
        direction: cipher direction.
        auth_name: a hash or HMAC.
        auth_key: the HMAC key (None for a plain hash).
        order: which slice runs first.
        verify: compare the digest instead of producing it.
        digest_size: truncate the digest.
        digest_in_buffer: the digest sits right after the auth region, in the data.
        form: the cipher's slice, if not the endpoint's default.
        offer: what the endpoint runs.

    Raises:
        UnsupportedAlgorithmError / ValueError / TypeError: as the single sessions.
    """
    calg = cipher(cipher_name)
    ck = calg.check_key(cipher_key)
    aalg = auth(auth_name)
    ak = _check_auth_key(aalg, auth_key)
    digest = aalg.check_digest_size(digest_size)
    form = offer.cipher_form(calg, form)
    cblk = _cipher_block(calg, ck, direction, form)
    ablk = _auth_block(aalg, ak, digest)
    flags = la.la_flags(
        iv_inline=True,
        ret_auth_res=not verify,
        cmp_auth_res=verify,
        digest_in_buffer=digest_in_buffer,
        slice_type=_slice_type(form),
    )
    req, cd = _chained(flags, cblk, ablk, cipher_first=order == ChainOrder.CIPHER_THEN_HASH)
    _set_auth_params(req, digest)
    cd_bytes, template = _finish(req, cd)
    return LaSetup(
        cd_bytes,
        template,
        cipher=calg,
        auth=aalg,
        direction=direction,
        iv_size=calg.iv_size,
        digest_size=digest,
        verify=verify,
        digest_in_buffer=digest_in_buffer,
        block_size=1 if calg.is_stream else calg.block_size,
        tweak_key=ck[len(ck) // 2 :]
        if calg.mode == hw.CipherMode.XTS and form == SliceForm.UCS
        else None,
    )


def gcm_session(
    name: str,
    key: object,
    direction: Direction,
    *,
    tag_size: int = 16,
    aad_size: int = 0,
    single_pass: bool | None = None,
    nonce_size: int = GCM_SPC_NONCE_SIZE,
    digest_in_buffer: bool = False,
    offer: EndpointOffer = GEN4,
) -> LaSetup:
    """An AES-GCM session for nonces of one size.

    Encrypt produces the tag; decrypt verifies it (a mismatch fails the operation with
    the CRYPTO status). The AAD length is part of the session, as in DPDK: the device
    reads it from the CD (two-pass) or the cipher config and request (single pass).
    A 12-byte nonce goes to the device as the IV (``GCM_IV_LEN_12``); for any other size
    the request carries the 16-byte J0 the host computes (:mod:`qathw.service.gcmj0`),
    which only the two-pass form takes.

    Args:
        name: ``aes-128-gcm``, ``aes-192-gcm`` or ``aes-256-gcm``.
        key: the AES key.
        direction: encrypt or decrypt.
        tag_size: 4, 8 or 12..16 bytes.
        aad_size: bytes of associated data each operation supplies (0..240).
        single_pass: the one-command form (``None``: where the endpoint offers it).
        nonce_size: bytes of nonce each operation supplies (12: the device builds J0).
        digest_in_buffer: the tag sits in the data right after the ciphertext.
        offer: what the endpoint runs.

    Raises:
        UnsupportedAlgorithmError: the endpoint does not run GCM in that form.
        ValueError / TypeError: bad name, key, tag, AAD or nonce size.
    """
    alg = aead(name)
    k = alg.check_key(key)
    tag = alg.check_tag_size(tag_size)
    aad = alg.check_aad_size(aad_size)
    alg.check_iv(bytes(nonce_size))
    offer.check_gcm_nonce(alg, nonce_size)
    spc, form = offer.gcm_form(alg, single_pass)
    iv12 = nonce_size == GCM_SPC_NONCE_SIZE
    enc = direction == Direction.ENCRYPT
    if spc and iv12:
        cd, template = _gcm_single_pass(alg, k, enc, tag, aad, digest_in_buffer)
    else:
        cd, template = _gcm_two_pass(alg, k, enc, tag, aad, digest_in_buffer, form, iv12)
    return LaSetup(
        cd,
        template,
        cipher=alg,
        direction=direction,
        iv_size=GCM_SPC_NONCE_SIZE if iv12 else hw.AES_BLK_SZ,
        digest_size=tag,
        verify=not enc,
        digest_in_buffer=digest_in_buffer,
        aad_size=aad,
    )


def _gcm_single_pass(
    alg: AeadAlgorithm, key: bytes, enc: bool, tag: int, aad: int, in_buffer: bool
) -> tuple[bytes, bytes]:
    config = hw.cipher_config(
        hw.CipherMode.AEAD,
        alg.hw_algo,
        hw.CipherConvert.NO_CONVERT,
        hw.CipherDir.ENCRYPT if enc else hw.CipherDir.DECRYPT,
        aead_hash_cmp_len=tag,
    )
    padded = key + b"\0" * (hw.round_up(len(key), 16) - len(key))
    data = _cipher_config(config, SliceForm.UCS, hw.cipher_config_upper(aad)) + padded
    flags = la.la_flags(
        iv_inline=True,
        gcm_iv_len_12=True,
        single_pass=True,
        slice_type=la.SLICE_TYPE_UCS,
        ret_auth_res=enc,
        cmp_auth_res=not enc,
        digest_in_buffer=in_buffer,
    )
    req = _header(la.LaCmd.CIPHER, flags)
    req.cd_ctrl.cipher_state_sz = hw.AES_BLK_SZ // 8
    req.cd_ctrl.cipher_key_sz = len(padded) // 8
    req.cd_ctrl.cipher_cfg_offset = 0
    req.cd_ctrl.next_curr_id_cipher = next_curr(Slice.DRAM_WR, Slice.CIPHER)
    params = la.icp_qat_fw_la_cipher_20_req_params.from_buffer(req, la.CIPHER_REQ_PARAMS_OFFSET)
    params.spc_aad_offset = 0
    params.spc_aad_sz = aad
    params.spc_auth_res_sz = tag
    return _finish(req, bytearray(data))


def _gcm_two_pass(
    alg: AeadAlgorithm,
    key: bytes,
    enc: bool,
    tag: int,
    aad: int,
    in_buffer: bool,
    form: SliceForm,
    iv12: bool,
) -> tuple[bytes, bytes]:
    config = hw.cipher_config(hw.CipherMode.CTR, alg.hw_algo)  # CTR encrypts both ways
    slice_key = key
    if form == SliceForm.UCS:  # gen4: the UCS slice, its key padded to 16 bytes (DPDK is_ucs)
        slice_key = key + bytes(hw.round_up(len(key), 16) - len(key))
    state_qw = hw.AES_BLK_SZ // 8  # the IV or J0 state is a whole block either way
    cblk = _CipherBlock(
        _cipher_config(config, form) + slice_key, len(slice_key) // 8, state_qw, form
    )
    ablk = _galois_block(key, aad, tag)
    flags = la.la_flags(
        iv_inline=True,
        gcm_iv_len_12=iv12,
        slice_type=_slice_type(form),
        proto=la.PROTO_GCM,
        ret_auth_res=enc,
        cmp_auth_res=not enc,
        digest_in_buffer=in_buffer,
    )
    req, cd = _chained(flags, cblk, ablk, cipher_first=enc)
    params = la.icp_qat_fw_la_auth_req_params.from_buffer(req, la.AUTH_REQ_PARAMS_OFFSET)
    params.auth_res_sz = tag
    params.u2.aad_sz = hw.round_up(aad, 16)
    params.hash_state_sz = hw.round_up(aad, 16) >> 3
    return _finish(req, cd)


# --- compression -------------------------------------------------------------------------


class CompDirection(enum.Enum):
    COMPRESS = "compress"
    DECOMPRESS = "decompress"


_SEARCH_DEPTH = {
    **{lvl: comp20.SearchDepth.LEVEL_1 for lvl in range(1, 6)},
    **{lvl: comp20.SearchDepth.LEVEL_6 for lvl in range(6, 9)},
    9: comp20.SearchDepth.LEVEL_9,
}


@dataclass(frozen=True)
class CompSetup:
    """A compression session's 128-byte request template (no CD: config words inline).

    Attributes:
        template: the request template.
        direction: compress or decompress.
        huffman: static or dynamic codes (compression).
        level: 1..9, mapped to the gen4 search depth as DPDK maps it.
    """

    template: bytes
    direction: CompDirection
    huffman: Huffman
    level: int

    def request(self) -> bytearray:
        """A fresh copy of the template."""
        return bytearray(self.template)


def compression_session(
    direction: CompDirection,
    *,
    huffman: Huffman = Huffman.DYNAMIC,
    level: int = 6,
    algorithm: str = "deflate",
) -> CompSetup:
    """A stateless deflate session for a gen4 endpoint.

    Every request asks for compress-and-verify (CNV): drivers reject compression
    responses without it. The device reports CRC32 and Adler-32 of the uncompressed
    data with each response.

    Args:
        direction: compress or decompress.
        huffman: static (fixed) or dynamic Huffman codes.
        level: 1..9 (search depth).
        algorithm: only ``deflate``.

    Raises:
        UnsupportedAlgorithmError: another algorithm.
        ValueError: level outside 1..9.
    """
    alg = lookup(algorithm)
    if not isinstance(alg, CompressionAlgorithm):
        raise UnsupportedAlgorithmError(
            f"{algorithm!r} is not a compression algorithm", hint="use deflate"
        )
    alg.check_level(level)
    req = comp.icp_qat_fw_comp_req()
    hdr = req.comn_hdr
    hdr.service_type = ServiceType.COMP
    hdr.hdr_flags = HDR_FLAG_VALID
    hdr.comn_req_flags = comn_req_flags(CD_FLD_TYPE_16BYTE_DATA, PTR_TYPE_FLAT)
    hdr.serv_specif_flags = comp.comp_flags()
    words = req.cd_pars.sl.comp_slice_cfg_word
    if direction == CompDirection.COMPRESS:
        static = huffman == Huffman.STATIC
        hdr.service_cmd_id = comp.CompCmd.STATIC if static else comp.CompCmd.DYNAMIC
        lower = comp20.CompLower(
            fmt=comp20.HwCompFormat.DEFLATE if static else comp20.HwCompFormat.ILZ77,
            search_depth=_SEARCH_DEPTH[level],
            skip_hash_collision=level <= 5,
            lllbd_disabled=static,
        )
        words[0] = comp20.to_wire(lower.value())
        # Static: SCB disabled, as DPDK (qat_comp_pmd_gen4.c) and qatlib (dc_session.c) send it.
        words[1] = comp20.to_wire(comp20.comp_upper_value(scb_disabled=static))
        req.comp_pars.req_par_flags = comp.comp_req_param_flags(
            sop=True, eop=True, bfinal=True, cnv=True, cnv_recovery=True
        )
        cd_ctrl_next = Slice.DRAM_WR if static else Slice.XLAT
        req.comp_cd_ctrl.next_curr_id = next_curr(cd_ctrl_next, Slice.COMP)
        if not static:
            req.u2.xlt_cd_ctrl.next_curr_id = next_curr(Slice.DRAM_WR, Slice.XLAT)
    else:
        hdr.service_cmd_id = comp.CompCmd.DECOMPRESS
        words[0] = comp20.to_wire(comp20.decomp_lower_value())
        words[1] = 0
        # CNV on decompression too, as current DPDK (qat_comp.c) and Linux (qat_comp_req.h) do.
        req.comp_pars.req_par_flags = comp.comp_req_param_flags(
            sop=True, eop=True, bfinal=True, cnv=True, cnv_recovery=True
        )
        req.comp_cd_ctrl.next_curr_id = next_curr(Slice.DRAM_WR, Slice.COMP)
    req.comp_pars.initial_crc32 = 0
    req.comp_pars.initial_adler = 1
    return CompSetup(bytes(req), direction, huffman, level)
