"""Scatter-gather buffer lists (``qat_alg_buf_list`` / qatlib ``icp_buffer_list_desc_t``).

When ``comn_req_flags`` says SGL, ``src_data_addr`` and ``dest_data_addr`` point at a
list: a 16-byte header then ``num_bufs`` 16-byte entries. Request offsets (cipher_offset,
auth_off) count bytes of the concatenated entries; ``src_length``/``dst_length`` are
ignored for SGLs (reference qat-wire-format.md §2.8).
"""

from __future__ import annotations

import ctypes

SGL_DESC_ALIGN = 8  # ICP_DESCRIPTOR_ALIGNMENT_BYTES: the list must be at least 8-byte aligned
# Entries per list the emulated device accepts (fakedev's limit, not a firmware constant:
# Linux uses 4, DPDK up to 16); 1024 pages of 4 KiB = 4 MiB.
SGL_MAX_ENTRIES = 1024


class qat_alg_buf(ctypes.LittleEndianStructure):
    """One SGL entry (``icp_flat_buffer_desc_t``)."""

    _fields_ = [
        ("len", ctypes.c_uint32),
        ("resrvd", ctypes.c_uint32),
        ("addr", ctypes.c_uint64),
    ]


class qat_alg_buf_list(ctypes.LittleEndianStructure):
    """The SGL header; ``num_bufs`` :class:`qat_alg_buf` entries follow at byte 16."""

    _fields_ = [
        ("resrvd", ctypes.c_uint64),
        ("num_bufs", ctypes.c_uint32),
        ("num_mapped_bufs", ctypes.c_uint32),  # qatlib: reserved
    ]


def sgl_size(num_bufs: int) -> int:
    """Bytes of a list with ``num_bufs`` entries."""
    return ctypes.sizeof(qat_alg_buf_list) + num_bufs * ctypes.sizeof(qat_alg_buf)
