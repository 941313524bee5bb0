"""Decoding the kernel's info structures and their capability chains.

The buffers are laid out with the uapi structures (pinned against linux/vfio.h), the way
the kernel fills them: a fixed part, then capabilities linked by ``next`` offsets from
the start of the buffer.
"""

from __future__ import annotations

import ctypes

from qathw import vfio
from qathw._uapi import vfio as uapi


def _region_buffer(caps: list[bytes], *, flags: int) -> bytearray:
    head = ctypes.sizeof(uapi.vfio_region_info)
    size = head + sum(len(c) for c in caps)
    buf = bytearray(size)
    ri = uapi.vfio_region_info.from_buffer(buf)
    ri.argsz, ri.flags, ri.index = size, flags, 0
    ri.size, ri.offset = 0x10000, 0
    ri.cap_offset = head if caps else 0
    del ri
    at = head
    for n, cap in enumerate(caps):
        buf[at : at + len(cap)] = cap
        hdr = uapi.vfio_info_cap_header.from_buffer(buf, at)
        hdr.next = at + len(cap) if n + 1 < len(caps) else 0
        del hdr
        at += len(cap)
    return buf


def _sparse(areas: list[tuple[int, int]]) -> bytes:
    cap = uapi.vfio_region_info_cap_sparse_mmap()
    cap.header.id, cap.header.version = uapi.VFIO_REGION_INFO_CAP_SPARSE_MMAP, 1
    cap.nr_areas = len(areas)
    out = bytes(cap)
    for off, size in areas:
        area = uapi.vfio_region_sparse_mmap_area()
        area.offset, area.size = off, size
        out += bytes(area)
    return out


def _cap_type(kind: int, subtype: int) -> bytes:
    cap = uapi.vfio_region_info_cap_type()
    cap.header.id, cap.header.version = uapi.VFIO_REGION_INFO_CAP_TYPE, 1
    cap.type, cap.subtype = kind, subtype
    return bytes(cap)


RWM = (
    uapi.VFIO_REGION_INFO_FLAG_READ
    | uapi.VFIO_REGION_INFO_FLAG_WRITE
    | uapi.VFIO_REGION_INFO_FLAG_MMAP
)


def test_a_region_without_capabilities_is_mappable_whole() -> None:
    info = vfio.parse_region_info(_region_buffer([], flags=RWM))
    assert info.sparse_areas is None
    assert info.mmap_areas() == ((0, 0x10000),)


def test_sparse_mmap_areas_are_the_only_mappable_parts() -> None:
    buf = _region_buffer(
        [_sparse([(0, 0x2000), (0x3000, 0xD000)])], flags=RWM | uapi.VFIO_REGION_INFO_FLAG_CAPS
    )
    info = vfio.parse_region_info(buf)
    assert info.mmap_areas() == ((0, 0x2000), (0x3000, 0xD000))


def test_both_capabilities_of_a_chain_are_read() -> None:
    buf = _region_buffer(
        [_cap_type(1, 2), _sparse([(0x1000, 0x1000)])],
        flags=RWM | uapi.VFIO_REGION_INFO_FLAG_CAPS,
    )
    info = vfio.parse_region_info(buf)
    assert info.region_type == (1, 2)
    assert info.sparse_areas == ((0x1000, 0x1000),)


def test_a_region_without_the_mmap_flag_has_no_mappable_area() -> None:
    info = vfio.parse_region_info(_region_buffer([], flags=uapi.VFIO_REGION_INFO_FLAG_READ))
    assert info.mmap_areas() == ()


def test_a_chain_pointing_outside_the_buffer_stops_without_error() -> None:
    buf = _region_buffer([_cap_type(1, 2)], flags=RWM | uapi.VFIO_REGION_INFO_FLAG_CAPS)
    hdr = uapi.vfio_info_cap_header.from_buffer(buf, ctypes.sizeof(uapi.vfio_region_info))
    hdr.next = len(buf) + 64
    del hdr
    assert vfio.parse_region_info(buf).region_type == (1, 2)


def test_iommu_info_reads_page_sizes_ranges_and_available_mappings() -> None:
    head = ctypes.sizeof(uapi.vfio_iommu_type1_info)
    ranges = uapi.vfio_iommu_type1_info_cap_iova_range()
    ranges.header.id = uapi.VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE
    ranges.nr_iovas = 2
    r0, r1 = uapi.vfio_iova_range(), uapi.vfio_iova_range()
    r0.start, r0.end = 0, 0xFEDF_FFFF
    r1.start, r1.end = 0xFEF0_0000, (1 << 39) - 1
    cap1 = bytes(ranges) + bytes(r0) + bytes(r1)
    avail = uapi.vfio_iommu_type1_info_dma_avail()
    avail.header.id, avail.avail = uapi.VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL, 65535
    ranges.header.next = head + len(cap1)
    cap1 = bytes(ranges) + bytes(r0) + bytes(r1)
    buf = bytearray(head) + cap1 + bytes(avail)
    info = uapi.vfio_iommu_type1_info.from_buffer(buf)
    info.argsz, info.flags = len(buf), uapi.VFIO_IOMMU_INFO_PGSIZES | uapi.VFIO_IOMMU_INFO_CAPS
    info.iova_pgsizes, info.cap_offset = 0x40201000, head
    del info
    parsed = vfio.parse_iommu_info(buf)
    assert parsed.min_page_size == 0x1000
    assert parsed.iova_ranges == ((0, 0xFEE0_0000), (0xFEF0_0000, 1 << 39))
    assert parsed.dma_mappings_available == 65535
