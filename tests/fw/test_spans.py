"""Field spans and field-run structs: how qathw.fw computes offsets and formats."""

from __future__ import annotations

import ctypes

import pytest

from qathw.fw.spans import Span, fields_struct, span


class _Inner(ctypes.LittleEndianStructure):
    _fields_ = [("a", ctypes.c_uint8), ("code", ctypes.c_int8), ("b", ctypes.c_uint16)]


class _Outer(ctypes.LittleEndianStructure):
    _fields_ = [
        ("head", ctypes.c_uint32),
        ("inner", _Inner),
        ("words", ctypes.c_uint32 * 3),
        ("tail", ctypes.c_uint64),
    ]


def test_a_nested_field_is_placed_from_the_start_of_the_message() -> None:
    assert span(_Outer, "inner.b") == Span(6, 2, "H")


def test_a_signed_field_reads_signed() -> None:
    assert span(_Outer, "inner.code").code == "b"


def test_an_array_element_is_indexed() -> None:
    assert span(_Outer, "words[2]") == Span(16, 4, "I")


def test_an_aggregate_is_read_as_raw_bytes() -> None:
    assert span(_Outer, "words") == Span(8, 12, "12s")
    assert span(_Outer, "tail").raw() == Span(24, 8, "8s")


def test_a_layout_viewed_at_an_offset_adds_its_base() -> None:
    assert span(_Outer, "tail", base=100).offset == 124


@pytest.mark.parametrize("path", ["nothing", "inner.nothing", "words[3]", "head[0]", "in ner"])
def test_a_path_that_names_no_field_is_refused(path: str) -> None:
    with pytest.raises(KeyError):
        span(_Outer, path)


def test_the_gaps_between_fields_become_padding() -> None:
    run = fields_struct(span(_Outer, "head"), span(_Outer, "inner.b"), span(_Outer, "tail"))
    assert run.format == "<I2xH16xQ"
    message = bytes(_Outer(head=1, inner=_Inner(b=2), tail=3))
    assert run.unpack_from(message, 0) == (1, 2, 3)


def test_a_big_endian_run() -> None:
    run = fields_struct(span(_Outer, "words[0]"), byte_order=">")
    assert run.unpack(bytes.fromhex("01020304")) == (0x01020304,)


@pytest.mark.parametrize(
    "paths", [[], ["inner.b", "head"], ["head", "head"], ["words", "words[1]"]]
)
def test_fields_out_of_order_or_overlapping_are_refused(paths: list[str]) -> None:
    with pytest.raises(ValueError):
        fields_struct(*(span(_Outer, p) for p in paths))
