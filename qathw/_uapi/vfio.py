"""Private: ``linux/vfio.h`` as ctypes structures and ioctl numbers, named like the C ones.

Only what qathw uses is here; every structure size, field offset and ioctl number is
checked against the installed kernel headers by ``tests/vfio/test_uapi_headers.py``.
Structures with a flexible array member (``data[]``, ``areas[]``, ``iova_ranges[]``) are
declared without it: ``sizeof`` then equals the C ``sizeof`` and the caller appends the
variable part in a larger buffer.
"""

from __future__ import annotations

import ctypes

from qathw._uapi.ioctl import _IO

VFIO_API_VERSION = 0

# Extensions (VFIO_CHECK_EXTENSION) and IOMMU types (VFIO_SET_IOMMU).
VFIO_TYPE1_IOMMU = 1
VFIO_SPAPR_TCE_IOMMU = 2
VFIO_TYPE1v2_IOMMU = 3
VFIO_DMA_CC_IOMMU = 4
VFIO_EEH = 5
VFIO_TYPE1_NESTING_IOMMU = 6
VFIO_SPAPR_TCE_v2_IOMMU = 7
VFIO_NOIOMMU_IOMMU = 8
VFIO_UNMAP_ALL = 9
VFIO_UPDATE_VADDR = 10

VFIO_TYPE = ord(";")
VFIO_BASE = 100

VFIO_GET_API_VERSION = _IO(VFIO_TYPE, VFIO_BASE + 0)
VFIO_CHECK_EXTENSION = _IO(VFIO_TYPE, VFIO_BASE + 1)
VFIO_SET_IOMMU = _IO(VFIO_TYPE, VFIO_BASE + 2)
VFIO_GROUP_GET_STATUS = _IO(VFIO_TYPE, VFIO_BASE + 3)
VFIO_GROUP_SET_CONTAINER = _IO(VFIO_TYPE, VFIO_BASE + 4)
VFIO_GROUP_UNSET_CONTAINER = _IO(VFIO_TYPE, VFIO_BASE + 5)
VFIO_GROUP_GET_DEVICE_FD = _IO(VFIO_TYPE, VFIO_BASE + 6)
VFIO_DEVICE_GET_INFO = _IO(VFIO_TYPE, VFIO_BASE + 7)
VFIO_DEVICE_GET_REGION_INFO = _IO(VFIO_TYPE, VFIO_BASE + 8)
VFIO_DEVICE_GET_IRQ_INFO = _IO(VFIO_TYPE, VFIO_BASE + 9)
VFIO_DEVICE_SET_IRQS = _IO(VFIO_TYPE, VFIO_BASE + 10)
VFIO_DEVICE_RESET = _IO(VFIO_TYPE, VFIO_BASE + 11)
VFIO_IOMMU_GET_INFO = _IO(VFIO_TYPE, VFIO_BASE + 12)
VFIO_IOMMU_MAP_DMA = _IO(VFIO_TYPE, VFIO_BASE + 13)
VFIO_IOMMU_UNMAP_DMA = _IO(VFIO_TYPE, VFIO_BASE + 14)


class vfio_info_cap_header(ctypes.LittleEndianStructure):
    """Header of every capability in an info chain; ``next`` is an offset from the info start."""

    _fields_ = [
        ("id", ctypes.c_uint16),
        ("version", ctypes.c_uint16),
        ("next", ctypes.c_uint32),
    ]


# --- group ------------------------------------------------------------------------------

VFIO_GROUP_FLAGS_VIABLE = 1 << 0
VFIO_GROUP_FLAGS_CONTAINER_SET = 1 << 1


class vfio_group_status(ctypes.LittleEndianStructure):
    _fields_ = [
        ("argsz", ctypes.c_uint32),
        ("flags", ctypes.c_uint32),
    ]


# --- device -----------------------------------------------------------------------------

VFIO_DEVICE_FLAGS_RESET = 1 << 0
VFIO_DEVICE_FLAGS_PCI = 1 << 1
VFIO_DEVICE_FLAGS_PLATFORM = 1 << 2
VFIO_DEVICE_FLAGS_AMBA = 1 << 3
VFIO_DEVICE_FLAGS_CCW = 1 << 4
VFIO_DEVICE_FLAGS_AP = 1 << 5
VFIO_DEVICE_FLAGS_FSL_MC = 1 << 6
VFIO_DEVICE_FLAGS_CAPS = 1 << 7


class vfio_device_info(ctypes.LittleEndianStructure):
    _fields_ = [
        ("argsz", ctypes.c_uint32),
        ("flags", ctypes.c_uint32),
        ("num_regions", ctypes.c_uint32),
        ("num_irqs", ctypes.c_uint32),
        ("cap_offset", ctypes.c_uint32),
    ]


VFIO_REGION_INFO_FLAG_READ = 1 << 0
VFIO_REGION_INFO_FLAG_WRITE = 1 << 1
VFIO_REGION_INFO_FLAG_MMAP = 1 << 2
VFIO_REGION_INFO_FLAG_CAPS = 1 << 3


class vfio_region_info(ctypes.LittleEndianStructure):
    _fields_ = [
        ("argsz", ctypes.c_uint32),
        ("flags", ctypes.c_uint32),
        ("index", ctypes.c_uint32),
        ("cap_offset", ctypes.c_uint32),
        ("size", ctypes.c_uint64),
        ("offset", ctypes.c_uint64),
    ]


VFIO_REGION_INFO_CAP_SPARSE_MMAP = 1
VFIO_REGION_INFO_CAP_TYPE = 2
VFIO_REGION_INFO_CAP_MSIX_MAPPABLE = 3


class vfio_region_sparse_mmap_area(ctypes.LittleEndianStructure):
    _fields_ = [
        ("offset", ctypes.c_uint64),
        ("size", ctypes.c_uint64),
    ]


class vfio_region_info_cap_sparse_mmap(ctypes.LittleEndianStructure):
    """Followed by ``nr_areas`` times :class:`vfio_region_sparse_mmap_area`."""

    _fields_ = [
        ("header", vfio_info_cap_header),
        ("nr_areas", ctypes.c_uint32),
        ("reserved", ctypes.c_uint32),
    ]


class vfio_region_info_cap_type(ctypes.LittleEndianStructure):
    _fields_ = [
        ("header", vfio_info_cap_header),
        ("type", ctypes.c_uint32),
        ("subtype", ctypes.c_uint32),
    ]


# Region and IRQ indexes of a vfio-pci device (a fixed user ABI).
VFIO_PCI_BAR0_REGION_INDEX = 0
VFIO_PCI_BAR1_REGION_INDEX = 1
VFIO_PCI_BAR2_REGION_INDEX = 2
VFIO_PCI_BAR3_REGION_INDEX = 3
VFIO_PCI_BAR4_REGION_INDEX = 4
VFIO_PCI_BAR5_REGION_INDEX = 5
VFIO_PCI_ROM_REGION_INDEX = 6
VFIO_PCI_CONFIG_REGION_INDEX = 7
VFIO_PCI_VGA_REGION_INDEX = 8
VFIO_PCI_NUM_REGIONS = 9

VFIO_PCI_INTX_IRQ_INDEX = 0
VFIO_PCI_MSI_IRQ_INDEX = 1
VFIO_PCI_MSIX_IRQ_INDEX = 2
VFIO_PCI_ERR_IRQ_INDEX = 3
VFIO_PCI_REQ_IRQ_INDEX = 4
VFIO_PCI_NUM_IRQS = 5

VFIO_IRQ_INFO_EVENTFD = 1 << 0
VFIO_IRQ_INFO_MASKABLE = 1 << 1
VFIO_IRQ_INFO_AUTOMASKED = 1 << 2
VFIO_IRQ_INFO_NORESIZE = 1 << 3


class vfio_irq_info(ctypes.LittleEndianStructure):
    _fields_ = [
        ("argsz", ctypes.c_uint32),
        ("flags", ctypes.c_uint32),
        ("index", ctypes.c_uint32),
        ("count", ctypes.c_uint32),
    ]


VFIO_IRQ_SET_DATA_NONE = 1 << 0
VFIO_IRQ_SET_DATA_BOOL = 1 << 1
VFIO_IRQ_SET_DATA_EVENTFD = 1 << 2
VFIO_IRQ_SET_ACTION_MASK = 1 << 3
VFIO_IRQ_SET_ACTION_UNMASK = 1 << 4
VFIO_IRQ_SET_ACTION_TRIGGER = 1 << 5


class vfio_irq_set(ctypes.LittleEndianStructure):
    """Followed by ``count`` data items (``__s32`` eventfds, ``__u8`` bools, or nothing)."""

    _fields_ = [
        ("argsz", ctypes.c_uint32),
        ("flags", ctypes.c_uint32),
        ("index", ctypes.c_uint32),
        ("start", ctypes.c_uint32),
        ("count", ctypes.c_uint32),
    ]


# --- IOMMU type1 ------------------------------------------------------------------------

VFIO_IOMMU_INFO_PGSIZES = 1 << 0
VFIO_IOMMU_INFO_CAPS = 1 << 1


class vfio_iommu_type1_info(ctypes.LittleEndianStructure):
    _fields_ = [
        ("argsz", ctypes.c_uint32),
        ("flags", ctypes.c_uint32),
        ("iova_pgsizes", ctypes.c_uint64),
        ("cap_offset", ctypes.c_uint32),
        ("reserved", ctypes.c_uint32),  # tail padding in C (the struct is 8-aligned)
    ]


VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE = 1
VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION = 2
VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL = 3


class vfio_iova_range(ctypes.LittleEndianStructure):
    """An inclusive range of valid IOVAs: ``[start, end]``."""

    _fields_ = [
        ("start", ctypes.c_uint64),
        ("end", ctypes.c_uint64),
    ]


class vfio_iommu_type1_info_cap_iova_range(ctypes.LittleEndianStructure):
    """Followed by ``nr_iovas`` times :class:`vfio_iova_range`."""

    _fields_ = [
        ("header", vfio_info_cap_header),
        ("nr_iovas", ctypes.c_uint32),
        ("reserved", ctypes.c_uint32),
    ]


class vfio_iommu_type1_info_dma_avail(ctypes.LittleEndianStructure):
    _fields_ = [
        ("header", vfio_info_cap_header),
        ("avail", ctypes.c_uint32),
    ]


VFIO_DMA_MAP_FLAG_READ = 1 << 0
VFIO_DMA_MAP_FLAG_WRITE = 1 << 1
VFIO_DMA_MAP_FLAG_VADDR = 1 << 2


class vfio_iommu_type1_dma_map(ctypes.LittleEndianStructure):
    _fields_ = [
        ("argsz", ctypes.c_uint32),
        ("flags", ctypes.c_uint32),
        ("vaddr", ctypes.c_uint64),
        ("iova", ctypes.c_uint64),
        ("size", ctypes.c_uint64),
    ]


VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP = 1 << 0
VFIO_DMA_UNMAP_FLAG_ALL = 1 << 1
VFIO_DMA_UNMAP_FLAG_VADDR = 1 << 2


class vfio_iommu_type1_dma_unmap(ctypes.LittleEndianStructure):
    """Followed by ``data[]`` (a ``vfio_bitmap`` with GET_DIRTY_BITMAP; unused here)."""

    _fields_ = [
        ("argsz", ctypes.c_uint32),
        ("flags", ctypes.c_uint32),
        ("iova", ctypes.c_uint64),
        ("size", ctypes.c_uint64),
    ]


# Every structure above, for the header test: name -> class.
STRUCTS: dict[str, type[ctypes.LittleEndianStructure]] = {
    cls.__name__: cls
    for cls in (
        vfio_info_cap_header,
        vfio_group_status,
        vfio_device_info,
        vfio_region_info,
        vfio_region_sparse_mmap_area,
        vfio_region_info_cap_sparse_mmap,
        vfio_region_info_cap_type,
        vfio_irq_info,
        vfio_irq_set,
        vfio_iommu_type1_info,
        vfio_iova_range,
        vfio_iommu_type1_info_cap_iova_range,
        vfio_iommu_type1_info_dma_avail,
        vfio_iommu_type1_dma_map,
        vfio_iommu_type1_dma_unmap,
    )
}
