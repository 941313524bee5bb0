"""numpy structured dtypes derived from the ctypes layouts, for batches.

Building or parsing hundreds of descriptors one ctypes object at a time is slow; a numpy
array over the ring memory with a structured dtype fills or reads a whole column at once.
The dtype is *derived* from the ctypes class, using ctypes' own field offsets, so the
layout has one source of truth. (``numpy.dtype(ctypes_struct)`` is not used: numpy 2.x
misplaces fields that follow a ctypes ``Union``.)
"""

from __future__ import annotations

import ctypes
from functools import cache
from typing import Any

import numpy as np

_SCALARS: dict[Any, str] = {
    ctypes.c_uint8: "u1",
    ctypes.c_int8: "i1",
    ctypes.c_uint16: "<u2",
    ctypes.c_int16: "<i2",
    ctypes.c_uint32: "<u4",
    ctypes.c_int32: "<i4",
    ctypes.c_uint64: "<u8",
    ctypes.c_int64: "<i8",
    ctypes.c_char: "S1",
}


def _field_dtype(ctype: Any) -> np.dtype[Any]:
    if ctype in _SCALARS:
        return np.dtype(_SCALARS[ctype])
    if isinstance(ctype, type) and issubclass(ctype, ctypes.Array):
        element: Any = ctype._type_
        count = ctypes.sizeof(ctype) // ctypes.sizeof(element)
        return np.dtype((_field_dtype(element), (count,)))
    if isinstance(ctype, type) and issubclass(ctype, ctypes.Structure | ctypes.Union):
        return numpy_dtype(ctype)
    raise TypeError(f"no numpy form for ctypes type {ctype!r}")


@cache
def numpy_dtype(cls: type[ctypes.Structure] | type[ctypes.Union]) -> np.dtype[Any]:
    """The numpy dtype with the same field names, offsets and size as ``cls``.

    Union members become fields at the same offset (numpy allows overlapping plain fields).

    Args:
        cls: a ctypes structure or union of fixed-size scalar, array, struct or union fields.

    Returns:
        A structured dtype whose ``itemsize`` is ``ctypes.sizeof(cls)``.

    Raises:
        TypeError: a field has a type with no numpy equivalent (pointers, bitfields).
    """
    names: list[str] = []
    formats: list[np.dtype[Any]] = []
    offsets: list[int] = []
    for entry in cls._fields_:
        name, ctype = entry[0], entry[1]
        if len(entry) > 2:
            raise TypeError(f"{cls.__name__}.{name}: bitfields have no numpy form")
        names.append(name)
        formats.append(_field_dtype(ctype))
        offsets.append(getattr(cls, name).offset)
    return np.dtype(
        {"names": names, "formats": formats, "offsets": offsets, "itemsize": ctypes.sizeof(cls)}
    )
