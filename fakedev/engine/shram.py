"""SHRAM constants-table mode: slice configs from the firmware's table, keys from the request.

With ``CIPH_AUTH_CFG_OFFSET`` set (``serv_specif_flags`` bit 3) an LA request's
``cipher_cfg_offset`` and ``hash_cfg_offset`` are quadword offsets into the constants table
the kernel loaded at init (:mod:`qathw.fw.constants`), not into a content descriptor. What
the table does not hold comes with the request, in its *setup data*: the 16 bytes at
request offset 8 when ``comn_req_flags`` says 16-byte data, else the CD at the address.
qatlib sends two shapes (``lac_sym_alg_chain.c``, ``LacSymQat_UseSymConstantsTable``):

* cipher-only or plain-hash sessions on the legacy slice: 16 bytes of data holding the
  cipher key (at most 16 bytes, ``LacAlgChain_CipherCDBuild``); a plain hash's initial
  state is the one the table holds after its auth setup;
* the "optimised CD" of AES-128-CBC with HMAC-SHA1 (mode 1): a 64-byte CD by address,
  the key at 0, state1 at 16, state2 after state1 (``LacSymQat_HashOpHwBlockPtrsInit``),
  ``inner_state2_offset`` counting from state1 (qatlib sets it to
  ``inner_state1_sz / 8`` in ``LacSymQat_HashContentDescInit``).

:func:`expand` assembles from those pieces the full content descriptor the request
stands for, with ``cd_ctrl`` offsets into it, so the ordinary decoder
(:func:`fakedev.engine.la_plan.build_plan`) checks and runs it as any other: a
constants-table request gives exactly the result of its full-CD twin. An offset whose block
does not lie inside the table is refused as INVALID_PARAM, like a block that runs past a CD.
"""

from __future__ import annotations

from fakedev.engine.reject import Reject
from qathw.fw import hw, la
from qathw.fw.common import Status
from qathw.fw.constants import CONST_TABLE

FLAG = 1 << la.CIPH_AUTH_CFG_OFFSET_BITPOS
INVALID = Status.CRYPTO | Status.INVALID_PARAM
UNSUPPORTED = Status.CRYPTO | Status.UNSUPPORTED_REQUEST

# The cipher key's room at the start of the setup data; a mode-1 hash's states follow it
# (qatlib's optimised CD: state1 at base + 16).
_KEY_ROOM = 16
_QW = 8


def expand(cmd: int, flags: int, cd_ctrl: bytes, setup: bytes) -> tuple[int, bytes, bytes]:
    """The full-CD form of a constants-table request: ``(flags, cd_ctrl, cd)``.

    Args:
        cmd: the LA command (which slices the request uses).
        flags: ``serv_specif_flags``, with :data:`FLAG` set.
        cd_ctrl: the request's 20 ``cd_ctrl`` bytes (offsets into the table).
        setup: the setup data (16 inline bytes or the CD at the address).

    Raises:
        Reject: an offset outside the table, a key or state outside the setup data, a
            slice other than the legacy one, or a partial hash packet.
    """
    slice_type = (flags >> la.SLICE_TYPE_BITPOS) & la.SLICE_TYPE_MASK
    if slice_type != la.SLICE_TYPE_LEGACY:
        # The table holds 8-byte legacy configs; qatlib turns the table off for UCS and
        # wireless sessions, so no host sends this.
        raise Reject(UNSUPPORTED, f"the constants table with slice type {slice_type}")
    partial = (flags >> la.PARTIAL_BITPOS) & la.PARTIAL_MASK
    if cmd != la.LaCmd.CIPHER and partial != la.PARTIAL_NONE:
        # qatlib: "we can't use it for partial-packet hash operations" (LacAlgChain_Perform
        # sends those with the full CD).
        raise Reject(UNSUPPORTED, "a partial hash packet with configs in the constants table")
    ctrl = la.icp_qat_fw_la_cipher_auth_cd_ctrl_hdr.from_buffer_copy(cd_ctrl)
    cd = bytearray()
    if cmd != la.LaCmd.AUTH:
        config = _table(ctrl.cipher_cfg_offset, hw.CIPHER_CONFIG_SZ, "cipher config")
        key_len = ctrl.cipher_key_sz * _QW
        if key_len > min(len(setup), _KEY_ROOM):
            raise Reject(INVALID, f"a {key_len}-byte key in constants-table mode (16 at most)")
        ctrl.cipher_cfg_offset = 0
        cd += config + setup[:key_len]
    if cmd != la.LaCmd.CIPHER:
        setup_block = _table(ctrl.hash_cfg_offset, hw.AUTH_SETUP_SZ, "auth setup")
        (config,) = hw.AUTH_CONFIG_FIELD.unpack_from(setup_block)
        mode = (config >> hw.AUTH_MODE_BITPOS) & hw.AUTH_MODE_MASK
        st1_sz, st2_sz = ctrl.inner_state1_sz, ctrl.inner_state2_sz
        if mode == hw.AuthMode.MODE0:
            # A plain hash starts from the initial state stored after its setup block.
            state1 = _table(ctrl.hash_cfg_offset, hw.AUTH_SETUP_SZ + st1_sz, "auth state")
            state1 = state1[hw.AUTH_SETUP_SZ :]
        else:
            state1 = _setup(setup, _KEY_ROOM, st1_sz)
        state2 = _setup(setup, _KEY_ROOM + ctrl.inner_state2_offset * _QW, st2_sz)
        ctrl.hash_cfg_offset = len(cd) // _QW
        cd += setup_block + state1.ljust(hw.round_up(st1_sz), b"\0")
        ctrl.inner_state2_offset = len(cd) // _QW
        cd += state2.ljust(hw.round_up(st2_sz), b"\0")
    return flags & ~FLAG, bytes(ctrl), bytes(cd)


def _table(offset_qw: int, size: int, what: str) -> bytes:
    """``size`` bytes of the table at ``offset_qw`` quadwords, or the firmware's refusal."""
    start = offset_qw * _QW
    if start + size > len(CONST_TABLE):
        raise Reject(
            INVALID,
            f"{what} at quadword {offset_qw} ({size} bytes) runs past the "
            f"{len(CONST_TABLE)}-byte constants table",
        )
    return CONST_TABLE[start : start + size]


def _setup(setup: bytes, start: int, size: int) -> bytes:
    if not size:
        return b""
    if start + size > len(setup):
        raise Reject(
            INVALID,
            f"auth state [{start}, {start + size}) runs past the {len(setup)}-byte setup data",
        )
    return setup[start : start + size]
