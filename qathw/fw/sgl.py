"""Scatter-gather buffer lists (``qat_alg_buf_list`` / qatlib ``icp_buffer_list_desc_t``).

When ``comn_req_flags`` says SGL, ``src_data_addr`` and ``dest_data_addr`` point at a
list: a 16-byte header then ``num_bufs`` 16-byte entries. Request offsets (cipher_offset,
auth_off) count bytes of the concatenated entries; ``src_length``/``dst_length`` are
ignored for SGLs (docs/hardware.md#sgl).
"""

from __future__ import annotations

import ctypes

from qathw.fw.spans import fields_struct, span

SGL_DESC_ALIGN = 8  # ICP_DESCRIPTOR_ALIGNMENT_BYTES: the list must be at least 8-byte aligned
# Entries per list: qatlib refuses 256 or more (lac_buffer_desc.c, MAX_SGL_BUFFERS), so
# no upstream stack has shown a device a longer list; qathw and fakedev stay below it.
SGL_MAX_ENTRIES = 255


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


# --- where the fields are (byte offsets computed from the layouts above) ---------------
_NUM_BUFS = span(qat_alg_buf_list, "num_bufs")
_NUM_MAPPED_BUFS = span(qat_alg_buf_list, "num_mapped_bufs")
_ENTRY_LEN = span(qat_alg_buf, "len")
_ENTRY_ADDR = span(qat_alg_buf, "addr")

SGL_HEADER_SZ = ctypes.sizeof(qat_alg_buf_list)  # the first entry follows the header
SGL_ENTRY_SZ = ctypes.sizeof(qat_alg_buf)
SGL_NUM_BUFS_OFFSET = _NUM_BUFS.offset  # in the list

# At SGL_NUM_BUFS_OFFSET of the list: num_bufs; or num_bufs, num_mapped_bufs.
SGL_NUM_BUFS_FIELD = fields_struct(_NUM_BUFS)
SGL_COUNT_FIELDS = fields_struct(_NUM_BUFS, _NUM_MAPPED_BUFS)
# At the start of an entry (sgl_entry_offset): len, addr; one entry long, so that
# ``iter_unpack`` walks a run of entries.
SGL_ENTRY_FIELDS = fields_struct(_ENTRY_LEN, _ENTRY_ADDR)


def sgl_entry_offset(index: int) -> int:
    """Where entry ``index`` starts in the list."""
    return SGL_HEADER_SZ + index * SGL_ENTRY_SZ


def sgl_size(num_bufs: int) -> int:
    """Bytes of a list with ``num_bufs`` entries."""
    return sgl_entry_offset(num_bufs)
