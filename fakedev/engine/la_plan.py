"""Decode an LA request's session part into a plan: what the slices will do.

Everything that is the same for every request of a session — the command, the header
flags, ``cd_ctrl`` and the content descriptor it points at — becomes a :class:`Plan`. The
device rereads the CD for every request; a plan is cached keyed by exactly those bytes,
which is the same thing, faster.

The decoder follows ``cd_ctrl``'s offsets (it assumes no fixed CD layout: the kernel and
DPDK place blocks differently) and accepts what a gen4 endpoint accepts (docs/hardware.md#la-request
and #content-descriptors): legacy and UCS cipher blocks, the SLICE_TYPE flag,
single-pass and two-pass GCM, the key-convert rules, 3DES keys, XTS in both forms.

Key handling, as the slice does it:

* encrypt, and CTR/GCM (always forward): the key in the CD is the cipher key;
  ``KEY_CONVERT`` is invalid there.
* ECB/CBC/XTS decrypt with ``KEY_CONVERT`` (legacy slice): the CD holds the cipher key
  and the slice derives the decryption schedule.
* AES decrypt with ``NO_CONVERT``: the CD holds the *end* of the schedule (the kernel's
  "reversed" key); the slice runs from it. A host that puts the forward key there gets
  garbage, as on hardware. The UCS slice never converts (``KEY_CONVERT`` is invalid).
* DES/3DES decrypt runs the same key schedule backwards, so the convert bit changes
  nothing: DPDK sends ``KEY_CONVERT``, qatlib ``NO_CONVERT`` (its ``icp_qat_alg_info``
  table), and both work on hardware.

Slice chain: a legacy-slice request names the cipher slice's successor in
``next_curr_id_cipher``; a UCS-slice request may leave that byte 0, as qatlib does
(``LacSymQat_CipherCtrlBlockWrite`` sets it only for the other slices), the command
saying where the data goes.

Whether the endpoint runs the decoded cipher at all (its generation, its capability
word) is :mod:`fakedev.engine.offer`'s question, asked once per plan.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.ciphers import CipherContext, algorithms

from fakedev.engine import primitives
from fakedev.engine.compat import TripleDES
from fakedev.engine.reject import Reject
from qathw import aeskey, sha
from qathw.fw import hw, la
from qathw.fw.common import Slice, Status, next_curr

UNSUPPORTED = Status.CRYPTO | Status.UNSUPPORTED_REQUEST
INVALID = Status.CRYPTO | Status.INVALID_PARAM

GCM_TAG_LENGTHS = frozenset((4, 8, 12, 13, 14, 15, 16))
_AES_KEY = {hw.CipherAlgo.AES128: 16, hw.CipherAlgo.AES192: 24, hw.CipherAlgo.AES256: 32}
_SHA: dict[int, sha.ShaAlgorithm] = {
    hw.AuthAlgo.SHA1: sha.SHA1,
    hw.AuthAlgo.SHA224: sha.SHA224,
    hw.AuthAlgo.SHA256: sha.SHA256,
    hw.AuthAlgo.SHA384: sha.SHA384,
    hw.AuthAlgo.SHA512: sha.SHA512,
}
_C_WR = next_curr(Slice.DRAM_WR, Slice.CIPHER)
_C_AUTH = next_curr(Slice.AUTH, Slice.CIPHER)
_A_WR = next_curr(Slice.DRAM_WR, Slice.AUTH)
_A_CIPHER = next_curr(Slice.CIPHER, Slice.AUTH)
_CHAIN = {  # command -> (cipher next_curr byte, auth next_curr byte); None = slice unused
    la.LaCmd.CIPHER: (_C_WR, None),
    la.LaCmd.AUTH: (None, _A_WR),
    la.LaCmd.CIPHER_HASH: (_C_AUTH, _A_WR),
    la.LaCmd.HASH_CIPHER: (_C_WR, _A_CIPHER),
}

# serv_specif_flags bits this fake implements; anything else set is unsupported.
_F = 1
_FLAG_IV_INLINE = _F << la.CIPH_IV_FLD_BITPOS
_FLAG_RET = _F << la.RET_AUTH_RES_BITPOS
_FLAG_CMP = _F << la.CMP_AUTH_RES_BITPOS
_FLAG_DIGEST_IN_BUF = _F << la.DIGEST_IN_BUFFER_BITPOS
_FLAG_GCM_IV12 = _F << la.GCM_IV_LEN_BITPOS
_FLAG_SINGLE_PASS = _F << la.SINGLE_PASS_PROTO_BITPOS


@dataclass(eq=False)
class CipherPlan:
    """The cipher slice's part of a plan.

    Attributes:
        mode: :class:`~qathw.fw.hw.CipherMode`.
        family: ``"aes"`` or ``"des"`` (DES and 3DES both run as 3DES with a 24-byte key).
        decrypt: the direction bit.
        key: the forward cipher key (after undoing a reversed key).
        key2: XTS legacy form: the tweak key; None otherwise.
        block: cipher block bytes.
        state_len: IV bytes (``cipher_state_sz`` times 8).
        aead_tag: single-pass GCM: tag length from the config word.
        aead_aad: single-pass GCM: AAD length from the upper config word.
        algo: :class:`~qathw.fw.hw.CipherAlgo` (tells DES from 3DES).
        ucs: the block is in the UCS slice's layout.
    """

    mode: int
    family: str
    decrypt: bool
    key: bytes
    key2: bytes | None
    block: int
    state_len: int
    aead_tag: int = 0
    aead_aad: int = 0
    algo: int = 0
    ucs: bool = False
    _alg: algorithms.AES | TripleDES | None = field(default=None, repr=False)
    _ecb: dict[bool, CipherContext] = field(default_factory=dict, repr=False)
    _tweak: CipherContext | None = field(default=None, repr=False)

    @property
    def algorithm(self) -> algorithms.AES | TripleDES:
        if self._alg is None:
            self._alg = primitives.block_algorithm(self.family, self.key)
        return self._alg

    def ecb(self, encrypt: bool) -> CipherContext:
        """A cached ECB context for this key (reused: ECB carries no state between calls)."""
        ctx = self._ecb.get(encrypt)
        if ctx is None:
            ctx = self._ecb[encrypt] = primitives.ecb(self.algorithm, encrypt)
        return ctx

    def tweak_ecb(self) -> CipherContext:
        """XTS legacy: an ECB encryptor under key2."""
        if self._tweak is None:
            assert self.key2 is not None
            self._tweak = primitives.ecb(algorithms.AES(self.key2), True)
        return self._tweak


@dataclass(eq=False)
class AuthPlan:
    """The auth slice's part of a plan.

    Attributes:
        algo: :class:`~qathw.fw.hw.AuthAlgo`.
        mode: 0 (plain hash) or 1 (HMAC from precomputed states).
        sha: the hash, for SHA algorithms.
        state1 / state2: the states from the CD (raw sizes).
        counter: the byte count the states already cover (BE32 in the CD).
        final_sz: digest bytes produced / compared.
        standard: mode 0 from the FIPS IV with counter 0 (``hashlib`` can do it).
        h: GALOIS_128: the hash subkey from state2.
        aad_len: GALOIS_128: the AAD length from state2 bytes 16-19 (big-endian).
    """

    algo: int
    mode: int
    sha: sha.ShaAlgorithm | None
    state1: bytes
    state2: bytes
    counter: int
    final_sz: int
    standard: bool = False
    h: bytes = b""
    aad_len: int = 0


@dataclass(eq=False)
class Plan:
    """What one session's requests do.

    Attributes:
        cmd: the LA command.
        flags: ``serv_specif_flags``.
        kind: ``"cipher"``, ``"auth"``, ``"chain"``, ``"gcm1"`` (single pass) or
            ``"gcm2"`` (two pass).
        cipher / auth: the slices' parts.
        ret / cmp: write or compare the digest.
        digest_in_buffer: the digest sits right after the auth (GCM: cipher) region.
        iv_inline: IV in the request (else by pointer).
        gcm_iv12: GCM: the IV field holds a 12-byte IV (else a 16-byte J0).
        h_is_aes_k0: two-pass GCM: the CD's H equals E(K, 0^128), so ``cryptography``'s
            GCM gives the device's answer.
        fast: the fast path for this plan (:mod:`fakedev.engine.fastpath`).
    """

    cmd: int
    flags: int
    kind: str
    cipher: CipherPlan | None = None
    auth: AuthPlan | None = None
    ret: bool = False
    cmp: bool = False
    digest_in_buffer: bool = False
    iv_inline: bool = False
    gcm_iv12: bool = False
    h_is_aes_k0: bool = False
    fast: Any = field(default=None, repr=False)  # fastpath.FastPath, set by the handler

    @property
    def digest_len(self) -> int:
        if self.kind == "gcm1":
            assert self.cipher is not None
            return self.cipher.aead_tag
        return self.auth.final_sz if self.auth is not None else 0


def check_header_flags(flags: int, ext_flags: int) -> None:
    """Reject header flags this device does not implement (before the CD is read)."""
    # CIPH_AUTH_CFG_OFFSET (configs in the SHRAM constants table) is resolved before the
    # plan is built (fakedev.engine.shram).
    # Partial packets (PARTIAL, UPDATE_STATE) are checked against the plan: only SHA
    # hashes and HMACs take them (fakedev.engine.partial).
    if flags & (_F << la.ZUC_3G_PROTO_BITPOS):
        raise Reject(UNSUPPORTED, "ZUC/3G protocol")
    proto = (flags >> la.PROTO_BITPOS) & la.PROTO_MASK
    if proto not in (la.PROTO_NONE, la.PROTO_GCM):
        raise Reject(UNSUPPORTED, f"protocol {proto} (only none and GCM)")
    slice_type = (flags >> la.SLICE_TYPE_BITPOS) & la.SLICE_TYPE_MASK
    if slice_type == la.SLICE_TYPE_WIRELESS:
        raise Reject(UNSUPPORTED, "the wireless slice")
    if slice_type > la.SLICE_TYPE_WIRELESS:
        raise Reject(INVALID, f"slice type {slice_type}")
    if ext_flags:
        raise Reject(UNSUPPORTED, f"extended service flags {ext_flags:#x}")


def build_plan(cmd: int, flags: int, cd_ctrl: bytes, cd: bytes) -> Plan:
    """The plan for a request of command ``cmd`` with these flags, cd_ctrl and CD.

    Raises:
        Reject: anything the device would refuse (UNSUPPORTED or INVALID_PARAM).
    """
    ctrl = la.icp_qat_fw_la_cipher_auth_cd_ctrl_hdr.from_buffer_copy(cd_ctrl)
    want_cipher, want_auth = _CHAIN[la.LaCmd(cmd)]
    ucs = ((flags >> la.SLICE_TYPE_BITPOS) & la.SLICE_TYPE_MASK) == la.SLICE_TYPE_UCS
    cipher_chain = ctrl.next_curr_id_cipher
    if want_cipher is not None and cipher_chain != want_cipher and not (ucs and cipher_chain == 0):
        raise Reject(
            INVALID,
            f"cipher slice chain {ctrl.next_curr_id_cipher:#04x} does not fit command {cmd} "
            f"(expected {want_cipher:#04x})",
        )
    if want_auth is not None and ctrl.next_curr_id_auth != want_auth:
        raise Reject(
            INVALID,
            f"auth slice chain {ctrl.next_curr_id_auth:#04x} does not fit command {cmd} "
            f"(expected {want_auth:#04x})",
        )
    proto = (flags >> la.PROTO_BITPOS) & la.PROTO_MASK
    single_pass = bool(flags & _FLAG_SINGLE_PASS)
    plan = Plan(
        cmd=cmd,
        flags=flags,
        kind="cipher",
        ret=bool(flags & _FLAG_RET),
        cmp=bool(flags & _FLAG_CMP),
        digest_in_buffer=bool(flags & _FLAG_DIGEST_IN_BUF),
        iv_inline=bool(flags & _FLAG_IV_INLINE),
        gcm_iv12=bool(flags & _FLAG_GCM_IV12),
    )
    if want_cipher is not None:
        plan.cipher = _cipher_plan(ctrl, cd, ucs)
    if want_auth is not None:
        plan.auth = _auth_plan(ctrl, cd, proto)

    if single_pass:
        if cmd != la.LaCmd.CIPHER or plan.cipher is None:
            raise Reject(INVALID, "single-pass is a CIPHER command")
        if not ucs:
            raise Reject(UNSUPPORTED, "single-pass on the legacy slice (gen3 layout)")
        if plan.cipher.mode != hw.CipherMode.AEAD:
            raise Reject(INVALID, "single-pass needs the AEAD cipher mode")
        plan.kind = "gcm1"
    elif plan.cipher is not None and plan.cipher.mode == hw.CipherMode.AEAD:
        raise Reject(INVALID, "the AEAD cipher mode needs the single-pass flag")
    elif proto == la.PROTO_GCM:
        if plan.cipher is None or plan.auth is None:
            raise Reject(INVALID, "GCM is a CIPHER_HASH or HASH_CIPHER command")
        if plan.cipher.mode != hw.CipherMode.CTR or plan.auth.algo != hw.AuthAlgo.GALOIS_128:
            raise Reject(INVALID, "two-pass GCM is AES-CTR with a GALOIS_128 auth block")
        plan.kind = "gcm2"
        enc = primitives.ecb(plan.cipher.algorithm, True)
        plan.h_is_aes_k0 = enc.update(b"\0" * 16) == plan.auth.h
    elif plan.auth is not None and plan.auth.algo == hw.AuthAlgo.GALOIS_128:
        raise Reject(INVALID, "GALOIS_128 needs the GCM protocol flag")
    elif plan.cipher is not None and plan.auth is not None:
        plan.kind = "chain"
    elif plan.auth is not None:
        plan.kind = "auth"

    # qatlib clears both on a first or middle partial packet: no digest yet.
    midway = (flags >> la.PARTIAL_BITPOS) & la.PARTIAL_MASK in (la.PARTIAL_START, la.PARTIAL_MID)
    if plan.kind != "cipher" and not (midway and not plan.ret and not plan.cmp):
        if plan.ret == plan.cmp:
            raise Reject(INVALID, "exactly one of RET_AUTH_RES and CMP_AUTH_RES must be set")
    if plan.kind in ("gcm1", "gcm2") and plan.cipher is not None:
        if plan.cipher.state_len not in (12, 16):
            raise Reject(INVALID, f"GCM IV state of {plan.cipher.state_len} bytes")
        if not plan.gcm_iv12 and plan.cipher.state_len != 16:
            raise Reject(INVALID, "a GCM J0 (no 12-byte IV flag) is 16 bytes")
    return plan


def _cipher_plan(
    ctrl: la.icp_qat_fw_la_cipher_auth_cd_ctrl_hdr, cd: bytes, ucs: bool
) -> CipherPlan:
    off = ctrl.cipher_cfg_offset * 8
    cfg_len = hw.UCS_CIPHER_CONFIG_SZ if ucs else hw.CIPHER_CONFIG_SZ
    key_len = ctrl.cipher_key_sz * 8
    if off + cfg_len + key_len > len(cd):
        raise Reject(
            INVALID,
            f"cipher block [{off}, {off + cfg_len + key_len}) runs past the {len(cd)}-byte CD",
        )
    (val,) = hw.CIPHER_CONFIG_FIELD.unpack_from(cd, off)
    algo = (val >> hw.CIPHER_ALGO_BITPOS) & hw.CIPHER_ALGO_MASK
    mode = (val >> hw.CIPHER_MODE_BITPOS) & hw.CIPHER_MODE_MASK
    decrypt = bool((val >> hw.CIPHER_DIR_BITPOS) & 1)
    convert = bool((val >> hw.CIPHER_CONVERT_BITPOS) & 1)
    cmp_len = (val >> hw.CIPHER_AEAD_HASH_CMP_LEN_BITPOS) & hw.CIPHER_AEAD_HASH_CMP_LEN_MASK
    raw = cd[off + cfg_len : off + cfg_len + key_len]
    state_len = ctrl.cipher_state_sz * 8

    if mode not in (
        hw.CipherMode.ECB,
        hw.CipherMode.CBC,
        hw.CipherMode.CTR,
        hw.CipherMode.XTS,
        hw.CipherMode.AEAD,
    ):
        raise Reject(UNSUPPORTED, f"cipher mode {mode}")  # fmt: skip
    if algo in _AES_KEY:
        family, block, aes_len = "aes", 16, _AES_KEY[hw.CipherAlgo(algo)]
        if mode == hw.CipherMode.XTS and aes_len == 24:
            raise Reject(UNSUPPORTED, "XTS with a 192-bit key")
        if ucs:
            expect = hw.round_up(aes_len, 16)
        else:
            expect = 2 * aes_len if mode == hw.CipherMode.XTS else aes_len
        if key_len != expect:
            raise Reject(
                INVALID, f"cipher_key_sz {key_len} bytes; AES-{aes_len * 8} needs {expect}"
            )
        key = raw[:aes_len]
        key2 = raw[aes_len : 2 * aes_len] if mode == hw.CipherMode.XTS and not ucs else None
    elif algo in (hw.CipherAlgo.DES, hw.CipherAlgo.TDES):
        if ucs:
            raise Reject(UNSUPPORTED, "the UCS slice runs AES only")
        if mode != hw.CipherMode.ECB and mode != hw.CipherMode.CBC:
            raise Reject(UNSUPPORTED, f"DES/3DES in cipher mode {mode}")
        need = 8 if algo == hw.CipherAlgo.DES else 24
        if key_len != need:
            raise Reject(
                INVALID,
                f"cipher_key_sz {key_len} bytes; {'DES' if need == 8 else '3DES'} needs {need}",
            )
        family, block, key, key2 = "des", 8, raw * 3 if need == 8 else raw, None
    else:
        raise Reject(UNSUPPORTED, f"cipher algorithm {algo}")

    if mode in (hw.CipherMode.CBC, hw.CipherMode.CTR, hw.CipherMode.XTS) and state_len != block:
        raise Reject(INVALID, f"cipher_state_sz {state_len} bytes; the IV is {block}")

    if mode == hw.CipherMode.AEAD:
        if convert:
            raise Reject(INVALID, "AEAD mode with KEY_CONVERT")
        if cmp_len not in GCM_TAG_LENGTHS:
            raise Reject(INVALID, f"AEAD tag length {cmp_len}")
        (upper,) = hw.CIPHER_CONFIG_UPPER_FIELD.unpack_from(cd, off + hw.CIPHER_CONFIG_UPPER_OFFSET)
        aad = ((upper >> 24) & 0xFF) | (((upper >> 16) & 0x3F) << 8)
        return CipherPlan(
            mode, family, decrypt, key, None, block, state_len, cmp_len, aad, algo, ucs
        )
    if mode == hw.CipherMode.CTR and decrypt:
        raise Reject(INVALID, "CTR mode runs the encrypt direction only")
    if not decrypt:
        if convert:
            raise Reject(INVALID, "KEY_CONVERT with the encrypt direction")
    elif ucs:
        if convert:
            raise Reject(INVALID, "the UCS slice does not convert keys (send the reversed key)")
        key = aeskey.forward_key(key)
    elif not convert and family == "aes":
        key = aeskey.forward_key(key)
    return CipherPlan(mode, family, decrypt, key, key2, block, state_len, algo=algo, ucs=ucs)


def _auth_plan(ctrl: la.icp_qat_fw_la_cipher_auth_cd_ctrl_hdr, cd: bytes, proto: int) -> AuthPlan:
    if ctrl.hash_flags:
        raise Reject(UNSUPPORTED, f"hash flags {ctrl.hash_flags:#x} (nested / mode 2 / wireless)")
    off = ctrl.hash_cfg_offset * 8
    if off + hw.AUTH_SETUP_SZ > len(cd):
        raise Reject(INVALID, f"auth setup at {off} runs past the {len(cd)}-byte CD")
    (config,) = hw.AUTH_CONFIG_FIELD.unpack_from(cd, off)
    (counter,) = hw.AUTH_COUNTER_FIELD.unpack_from(cd, off + hw.AUTH_COUNTER_OFFSET)
    algo = hw.auth_config_algo(config)
    mode = (config >> hw.AUTH_MODE_BITPOS) & hw.AUTH_MODE_MASK
    st1_off, st1_sz = off + hw.AUTH_SETUP_SZ, ctrl.inner_state1_sz
    st2_off, st2_sz = ctrl.inner_state2_offset * 8, ctrl.inner_state2_sz
    if st1_off + st1_sz > len(cd) or st2_off + st2_sz > len(cd):
        raise Reject(INVALID, "auth states run past the CD")
    final = ctrl.final_sz

    if algo == hw.AuthAlgo.GALOIS_128:
        if proto != la.PROTO_GCM:
            raise Reject(INVALID, "GALOIS_128 needs the GCM protocol flag")
        need = hw.GALOIS_H_SZ + hw.GALOIS_LEN_A_SZ + hw.GALOIS_E_CTR0_SZ
        if st2_sz < need:
            raise Reject(INVALID, f"GALOIS state2 is {st2_sz} bytes, needs {need}")
        if final not in GCM_TAG_LENGTHS:
            raise Reject(INVALID, f"GCM tag length {final}")
        state2 = cd[st2_off : st2_off + st2_sz]
        (aad_len,) = hw.GALOIS_AAD_LEN_FIELD.unpack_from(state2, hw.GALOIS_LEN_A_OFFSET)
        h = state2[: hw.GALOIS_H_SZ]
        return AuthPlan(algo, mode, None, b"", state2, counter, final, h=h, aad_len=aad_len)
    alg = _SHA.get(algo)
    if alg is None:
        raise Reject(UNSUPPORTED, f"auth algorithm {algo}")
    if mode not in (hw.AuthMode.MODE0, hw.AuthMode.MODE1):
        raise Reject(UNSUPPORTED, f"auth mode {mode} (modes 0 and 1 are implemented)")
    if not 1 <= final <= alg.digest_size:
        raise Reject(INVALID, f"final_sz {final} for a {alg.digest_size}-byte digest")
    if counter % alg.block_size:
        raise Reject(INVALID, f"auth counter {counter} is not a whole number of blocks")
    if st1_sz < alg.state_size:
        raise Reject(INVALID, f"inner_state1_sz {st1_sz} < {alg.state_size}")
    state1 = cd[st1_off : st1_off + alg.state_size]
    state2 = b""
    if mode == hw.AuthMode.MODE1:
        if st2_sz < alg.state_size:
            raise Reject(INVALID, f"inner_state2_sz {st2_sz} < {alg.state_size}")
        state2 = cd[st2_off : st2_off + alg.state_size]
    standard = mode == hw.AuthMode.MODE0 and counter == 0 and state1 == alg.initial_state
    return AuthPlan(algo, mode, alg, state1, state2, counter, final, standard=standard)
