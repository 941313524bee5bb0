"""Bit-field helpers, the Python form of the firmware headers' QAT_FIELD_GET/SET.

Hardware words are plain integers; fields are read and written with an explicit bit
position and mask, never with ctypes bitfields.
"""

from __future__ import annotations


def field_get(word: int, bitpos: int, mask: int) -> int:
    """``(word >> bitpos) & mask`` (``QAT_FIELD_GET``)."""
    return (word >> bitpos) & mask


def field_set(word: int, value: int, bitpos: int, mask: int) -> int:
    """``word`` with the field at ``bitpos``/``mask`` replaced by ``value`` (``QAT_FIELD_SET``).

    Raises:
        ValueError: ``value`` does not fit in ``mask``.
    """
    if value & ~mask:
        raise ValueError(f"value {value:#x} does not fit mask {mask:#x}")
    return (word & ~(mask << bitpos)) | (value << bitpos)
