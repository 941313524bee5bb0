"""Where a field lies in a message, and ``struct`` formats for runs of adjacent fields.

:func:`span` gives the byte offset, size and ``struct`` code of a (nested) field of a
ctypes layout, so every named offset in :mod:`qathw.fw` is computed from the structures.
:func:`fields_struct` builds a ``struct.Struct`` that reads or writes several adjacent
fields in one call, as fakedev's hot paths need: its format is computed from the same
spans, padding included, never written by hand, so it cannot disagree with the layout.
"""

from __future__ import annotations

import ctypes
import re
import struct
from typing import Any, NamedTuple

# struct codes of the scalar ctypes types the layouts use (aliases such as c_uint are the
# same objects); anything else (arrays, structures, unions) is read as raw bytes.
_CODES: dict[Any, str] = {
    ctypes.c_uint8: "B",
    ctypes.c_int8: "b",
    ctypes.c_uint16: "H",
    ctypes.c_int16: "h",
    ctypes.c_uint32: "I",
    ctypes.c_int32: "i",
    ctypes.c_uint64: "Q",
    ctypes.c_int64: "q",
}
_STEP = re.compile(r"(\w+)(?:\[(\d+)\])?$")


class Span(NamedTuple):
    """A field's place in a message.

    Attributes:
        offset: first byte, counted from the start of the message.
        size: bytes.
        code: the ``struct`` code that reads it (``"8s"`` for raw bytes).
    """

    offset: int
    size: int
    code: str

    @property
    def end(self) -> int:
        """The byte after the field."""
        return self.offset + self.size

    def raw(self) -> Span:
        """The same bytes, read and written as a ``bytes`` object (to copy them as they are)."""
        return self._replace(code=f"{self.size}s")


def span(layout: type[ctypes.Structure] | type[ctypes.Union], path: str, base: int = 0) -> Span:
    """The span of the field ``path`` of ``layout``.

    Args:
        layout: the ctypes structure (or union) the message is.
        path: dotted field names; a step may index an array (``comp_slice_cfg_word[1]``).
        base: where ``layout`` starts in the message (for parameter blocks that live at
            an offset of a request, such as the LA cipher parameters at byte 56).

    Raises:
        KeyError: ``path`` names no field of ``layout``.
    """
    offset, ctype = base, layout
    for step in path.split("."):
        match = _STEP.match(step)
        if match is None:
            raise KeyError(f"{layout.__name__}: bad path step {step!r} in {path!r}")
        name, index = match.group(1), match.group(2)
        fields = {entry[0]: entry[1] for entry in getattr(ctype, "_fields_", ())}
        if name not in fields:
            raise KeyError(f"{layout.__name__} has no field {path!r}")
        offset += getattr(ctype, name).offset
        ctype = fields[name]
        if index is not None:
            count = getattr(ctype, "_length_", 0)
            if not int(index) < count:
                raise KeyError(f"{layout.__name__}: {step!r} is out of range in {path!r}")
            ctype = ctype._type_
            offset += int(index) * ctypes.sizeof(ctype)
    size = ctypes.sizeof(ctype)
    return Span(offset, size, _CODES.get(ctype, f"{size}s"))


def fields_struct(*spans: Span, byte_order: str = "<") -> struct.Struct:
    """A ``struct.Struct`` over ``spans`` (ascending, not overlapping), starting at the first.

    The gaps between the spans become pad bytes, so ``unpack_from(message,
    spans[0].offset)`` gives one value per span. Packing writes zeros into the gaps: pack
    only runs whose gaps are reserved bytes.

    Args:
        spans: the fields, in message order.
        byte_order: ``"<"`` (the firmware's little-endian) or ``">"`` for big-endian words.

    Raises:
        ValueError: no spans, or spans out of order or overlapping.
    """
    if not spans:
        raise ValueError("a field run needs at least one field")
    parts: list[str] = []
    at = spans[0].offset
    for field in spans:
        if field.offset < at:
            raise ValueError(f"field at byte {field.offset} overlaps or precedes byte {at}")
        if field.offset > at:
            parts.append(f"{field.offset - at}x")
        parts.append(field.code)
        at = field.end
    return struct.Struct(byte_order + "".join(parts))
