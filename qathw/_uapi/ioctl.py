"""Private: the generic ioctl number encoding of ``asm-generic/ioctl.h`` (x86, arm64).

A request number packs the direction, a size, a type byte and a number:
``dir << 30 | size << 16 | type << 8 | nr``. VFIO uses only ``_IO`` (no size, no
direction) and passes ``argsz`` inside its structures instead.
"""

from __future__ import annotations

_IOC_NRBITS = 8
_IOC_TYPEBITS = 8
_IOC_SIZEBITS = 14

_IOC_NRSHIFT = 0
_IOC_TYPESHIFT = _IOC_NRSHIFT + _IOC_NRBITS
_IOC_SIZESHIFT = _IOC_TYPESHIFT + _IOC_TYPEBITS
_IOC_DIRSHIFT = _IOC_SIZESHIFT + _IOC_SIZEBITS

_IOC_NONE = 0
_IOC_WRITE = 1
_IOC_READ = 2


def _IOC(direction: int, type_: int | str, nr: int, size: int) -> int:  # noqa: N802
    t = ord(type_) if isinstance(type_, str) else type_
    if not 0 <= nr < 1 << _IOC_NRBITS or not 0 <= t < 1 << _IOC_TYPEBITS:
        raise ValueError(f"ioctl type {t:#x} / number {nr:#x} out of range")
    if not 0 <= size < 1 << _IOC_SIZEBITS:
        raise ValueError(f"ioctl argument size {size} out of range")
    return (
        direction << _IOC_DIRSHIFT
        | t << _IOC_TYPESHIFT
        | nr << _IOC_NRSHIFT
        | size << _IOC_SIZESHIFT
    )


def _IO(type_: int | str, nr: int) -> int:  # noqa: N802
    return _IOC(_IOC_NONE, type_, nr, 0)


def _IOR(type_: int | str, nr: int, size: int) -> int:  # noqa: N802
    return _IOC(_IOC_READ, type_, nr, size)


def _IOW(type_: int | str, nr: int, size: int) -> int:  # noqa: N802
    return _IOC(_IOC_WRITE, type_, nr, size)


def _IOWR(type_: int | str, nr: int, size: int) -> int:  # noqa: N802
    return _IOC(_IOC_READ | _IOC_WRITE, type_, nr, size)
