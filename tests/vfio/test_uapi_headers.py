"""The ctypes side of ``linux/vfio.h`` matches the installed kernel headers.

A small C program is compiled against ``/usr/include/linux/vfio.h`` (Debian's
``linux-libc-dev``); it prints every structure size, field offset and size, and every
``VFIO_*`` constant and ioctl number that ``qathw._uapi.vfio`` defines. Each is compared
with the ctypes side, so a wrong offset or number cannot hide behind a self-consistent
Python definition.
"""

from __future__ import annotations

import ctypes
import shutil
import subprocess
from pathlib import Path

import pytest

from qathw._uapi import vfio as uapi

HEADER = Path("/usr/include/linux/vfio.h")

# Fields we name that the C structure leaves as implicit padding.
PADDING = {("vfio_iommu_type1_info", "reserved")}

CONSTANTS = sorted(
    name
    for name, value in vars(uapi).items()
    if name.startswith("VFIO_") and isinstance(value, int)
)


def _c_program() -> str:
    lines = [
        "#include <stdio.h>",
        "#include <stddef.h>",
        "#include <linux/vfio.h>",
        "int main(void) {",
    ]
    for name, cls in uapi.STRUCTS.items():
        lines.append(f'printf("S {name} %zu\\n", sizeof(struct {name}));')
        for field, *_ in cls._fields_:
            if (name, field) in PADDING:
                continue
            lines.append(
                f'printf("F {name} {field} %zu %zu\\n", offsetof(struct {name}, {field}), '
                f"sizeof(((struct {name} *)0)->{field}));"
            )
    for const in CONSTANTS:
        lines.append(f'printf("C {const} %llu\\n", (unsigned long long)({const}));')
    lines += ["return 0;", "}"]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def c_side(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, ...], tuple[int, ...]]:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None or not HEADER.exists():
        pytest.skip(
            "no C compiler or no kernel headers: install gcc and linux-libc-dev to check "
            "the VFIO structures against linux/vfio.h"
        )
    work = tmp_path_factory.mktemp("uapi")
    src, exe = work / "vfio_layout.c", work / "vfio_layout"
    src.write_text(_c_program())
    subprocess.run([cc, "-Wall", "-Werror", "-o", str(exe), str(src)], check=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    table: dict[tuple[str, ...], tuple[int, ...]] = {}
    for line in out.splitlines():
        kind, *rest = line.split()
        if kind == "S":
            table[("S", rest[0])] = (int(rest[1]),)
        elif kind == "F":
            table[("F", rest[0], rest[1])] = (int(rest[2]), int(rest[3]))
        else:
            table[("C", rest[0])] = (int(rest[1]),)
    return table


@pytest.mark.parametrize("name", sorted(uapi.STRUCTS))
def test_structure_size_matches_header(
    name: str, c_side: dict[tuple[str, ...], tuple[int, ...]]
) -> None:
    assert ctypes.sizeof(uapi.STRUCTS[name]) == c_side[("S", name)][0]


@pytest.mark.parametrize(
    ("name", "field"),
    [
        (name, field)
        for name, cls in sorted(uapi.STRUCTS.items())
        for field, *_ in cls._fields_
        if (name, field) not in PADDING
    ],
)
def test_field_offset_and_size_match_header(
    name: str, field: str, c_side: dict[tuple[str, ...], tuple[int, ...]]
) -> None:
    descr = getattr(uapi.STRUCTS[name], field)
    assert (descr.offset, descr.size) == c_side[("F", name, field)]


@pytest.mark.parametrize(("name", "field"), sorted(PADDING))
def test_named_padding_is_exactly_the_c_tail_padding(
    name: str, field: str, c_side: dict[tuple[str, ...], tuple[int, ...]]
) -> None:
    cls = uapi.STRUCTS[name]
    names = [f for f, *_ in cls._fields_]
    before = names[names.index(field) - 1]
    end_of_previous = sum(c_side[("F", name, before)])
    descr = getattr(cls, field)
    assert descr.offset == end_of_previous
    assert descr.offset + descr.size == c_side[("S", name)][0]


@pytest.mark.parametrize("name", CONSTANTS)
def test_constant_and_ioctl_number_match_header(
    name: str, c_side: dict[tuple[str, ...], tuple[int, ...]]
) -> None:
    assert getattr(uapi, name) == c_side[("C", name)][0]


def test_every_ioctl_we_issue_is_checked() -> None:
    ioctls = {n for n in CONSTANTS if getattr(uapi, n) >> 8 & 0xFF == uapi.VFIO_TYPE}
    assert {
        "VFIO_GET_API_VERSION",
        "VFIO_CHECK_EXTENSION",
        "VFIO_SET_IOMMU",
        "VFIO_GROUP_GET_STATUS",
        "VFIO_GROUP_SET_CONTAINER",
        "VFIO_GROUP_UNSET_CONTAINER",
        "VFIO_GROUP_GET_DEVICE_FD",
        "VFIO_DEVICE_GET_INFO",
        "VFIO_DEVICE_GET_REGION_INFO",
        "VFIO_DEVICE_GET_IRQ_INFO",
        "VFIO_DEVICE_SET_IRQS",
        "VFIO_DEVICE_RESET",
        "VFIO_IOMMU_GET_INFO",
        "VFIO_IOMMU_MAP_DMA",
        "VFIO_IOMMU_UNMAP_DMA",
    } <= ioctls
