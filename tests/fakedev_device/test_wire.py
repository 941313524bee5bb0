"""fakedev reads requests and makes responses in one module, ``fakedev.wire``.

The response builder answers the known-answer request of docs/hardware.md#known-answers
byte for byte; its array form gives the same rows; and no other fakedev module lays out
a response, touches the cookie, or states a byte position of a message (an AST scan).
"""

from __future__ import annotations

import ast
import random
from pathlib import Path

import numpy as np
import pytest

from fakedev import wire
from qathw.fw.common import RING_EMPTY_SIG, ErrCode, Status

FAKEDEV = Path(__file__).resolve().parents[2] / "fakedev"

# docs/hardware.md#known-answers: the AES-128-CBC request and its response.
REFERENCE_CBC_REQUEST = bytes.fromhex(
    "00000480040000000010000001000000"
    "00000300000000008877665544332211"
    "00200000010000000020000001000000"
    "10000000100000000000000010000000"
    "000102030405060708090a0b0c0d0e0f"
    "00000000000000000000000000000000"
    "00000000000000000000000002020041"
    "00000000000000000000000000000000"
)
REFERENCE_RESPONSE = bytes.fromhex(
    "0001048000000000"  # resrvd1, service_id 1, LA, valid; no codes, status OK, cmd CIPHER
    "8877665544332211"  # the cookie, echoed
    "00000000000000000000000000000000"
)


def test_the_reference_request_gets_the_reference_response() -> None:
    assert wire.make_response(REFERENCE_CBC_REQUEST) == REFERENCE_RESPONSE


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_any_buffer_of_a_request_gets_the_same_response(kind: type) -> None:
    assert wire.make_response(kind(REFERENCE_CBC_REQUEST)) == REFERENCE_RESPONSE


def test_the_readers_read_the_reference_request() -> None:
    req = REFERENCE_CBC_REQUEST
    assert wire.service_type(req) == 4
    assert wire.header(req) == (0, 4, 0x80, 0x0004, 0, 0)
    assert wire.content_descriptor(req) == (0x100001000, 3)
    assert wire.middle(req) == (0x1122334455667788, 0x100002000, 0x100002000, 16, 16)
    assert not wire.is_sgl(req)
    assert wire.cipher_region(req) == (0, 16)
    assert wire.inline_iv(req, 16) == bytes(range(16))
    assert wire.cd_ctrl(req)[:4] == bytes.fromhex("02020041")
    # command, LA flags (two bytes), ext_flags, cd_ctrl: what a session fixes
    assert wire.la_session(req) == bytes.fromhex("00 0400 00") + wire.cd_ctrl(req)


def test_the_error_bytes_and_status_land_where_the_response_table_has_them() -> None:
    resp = wire.make_response(
        REFERENCE_CBC_REQUEST,
        Status.CMP | Status.XLAT,
        cmp_err=ErrCode.ENDPOINT_ERROR,
        xlat_err=ErrCode.OVERFLOW_ERROR,
        hdr_flags=0x40,
        tail=b"\x01\x02",
    )
    # byte 3 valid | CNV, byte 4 xlat -11, byte 5 cmp -17, byte 6 status, 16.. the tail
    assert resp[:8] == bytes.fromhex("000104c0f5ef3000")
    assert resp[16:] == b"\x01\x02" + bytes(14)


def test_an_error_code_keeps_its_low_eight_bits() -> None:
    low = wire.make_response(REFERENCE_CBC_REQUEST, cmp_err=0x1EF, xlat_err=-128)
    assert (low[4], low[5]) == (0x80, 0xEF)


def test_a_tail_longer_than_the_service_specific_bytes_is_refused() -> None:
    with pytest.raises(ValueError, match="at most 16"):
        wire.make_response(REFERENCE_CBC_REQUEST, tail=bytes(17))


def test_a_response_never_looks_empty_and_its_first_word_carries_the_valid_bit() -> None:
    resp = wire.make_response(bytes([0x7F] * 128))
    word0 = int.from_bytes(resp[:4], "little")
    assert word0 != RING_EMPTY_SIG
    assert word0 & wire.VALID_IN_FIRST_WORD == wire.VALID_IN_FIRST_WORD == 0x80000000


@pytest.mark.parametrize(
    ("status", "cmp_err", "xlat_err", "hdr_flags"),
    [(0, 0, 0, 0), (Status.CRYPTO, -17, 0, 0), (Status.CMP, -11, -128, 0x40)],
)
def test_the_array_form_gives_the_single_responses(
    status: int, cmp_err: int, xlat_err: int, hdr_flags: int
) -> None:
    requests = np.frombuffer(random.Random(status).randbytes(5 * 128), np.uint8).reshape(5, 128)
    got = wire.responses_for(
        requests, status, cmp_err=cmp_err, xlat_err=xlat_err, hdr_flags=hdr_flags
    )
    for row, resp in zip(requests, got, strict=True):
        single = wire.make_response(
            row.tobytes(), status, cmp_err=cmp_err, xlat_err=xlat_err, hdr_flags=hdr_flags
        )
        assert resp.tobytes() == single


def test_mark_valid_sets_the_valid_bit_of_every_row() -> None:
    rows = np.full((3, 32), 0x7F, dtype=np.uint8)
    wire.mark_valid(rows)
    assert (rows.view("<u4")[:, 0] & wire.VALID_IN_FIRST_WORD).all()


def test_sgl_entries_read_as_address_and_length() -> None:
    entries = bytes.fromhex(
        "10000000 00000000 0010000000100000"  # len 16, reserved, addr
        "08000000 00000000 2000000000000000"
    )
    assert wire.sgl_ranges(entries) == [(0x0000_1000_0000_1000, 16), (0x20, 8)]


# --- one place: an AST scan of fakedev --------------------------------------------------

# What only fakedev.wire may name: the response's fields and the cookie's place.
_WIRE_ONLY = {
    "RespServiceId",
    "RESPONSE_FIELDS",
    "REQ_OPAQUE_OFFSET",
    "REQ_OPAQUE_SZ",
    "OPAQUE",
    "REQ_MID_FIELDS",
}
# Formats that are not ring messages: PF/VF block payloads (qathw.transport.pfvf's words)
# and the kernel's struct ucred read from SO_PEERCRED.
_FORMAT_LITERALS_ALLOWED = {"mailbox.py", "irq.py"}


def _modules() -> list[Path]:
    return sorted(p for p in FAKEDEV.rglob("*.py") if p.name != "wire.py")


def _names(tree: ast.AST) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            found.add(node.id)
        elif isinstance(node, ast.Attribute):
            found.add(node.attr)
        elif isinstance(node, ast.alias):
            found.add(node.asname or node.name.rpartition(".")[2])
    return found


def test_the_scan_sees_what_it_looks_for() -> None:
    # The scan of wire.py itself finds the names, so an empty answer elsewhere means something.
    tree = ast.parse((FAKEDEV / "wire.py").read_text())
    assert {"RespServiceId", "RESPONSE_FIELDS", "REQ_OPAQUE_OFFSET"} <= _names(tree)
    assert any(n.startswith("RESP_") and n.endswith("_OFFSET") for n in _names(tree))


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(FAKEDEV)))
def test_only_wire_lays_out_a_response_or_touches_the_cookie(path: Path) -> None:
    names = _names(ast.parse(path.read_text()))
    response_fields = {n for n in names if n.startswith("RESP_") and n.endswith("_OFFSET")}
    assert not (names & _WIRE_ONLY) and not response_fields


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(FAKEDEV)))
def test_no_module_states_a_byte_range_or_a_struct_format_of_its_own(path: Path) -> None:
    tree = ast.parse(path.read_text())
    ranges = [
        (node.lineno, node.lower.value, node.upper.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Slice)
        and isinstance(node.lower, ast.Constant)
        and isinstance(node.upper, ast.Constant)
    ]
    assert not ranges, "a literal byte range (such as 24:32, the cookie): name it in qathw.fw"
    if path.name in _FORMAT_LITERALS_ALLOWED:
        return
    formats = [
        (node.lineno, node.args[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
        and getattr(node.func, "attr", getattr(node.func, "id", ""))
        in {"Struct", "pack", "unpack", "pack_into", "unpack_from", "iter_unpack", "calcsize"}
    ]
    assert not formats, "a struct format of a message: build it from qathw.fw's spans"
