"""Firmware message layouts: QAT requests, responses, content descriptors, SGLs.

One module per layout family, each structure named like its C original in the kernel's
``qat_common`` (``icp_qat_fw*.h``, ``icp_qat_hw.h``) and DPDK's ``qat_adf``. Every layout
is pinned by tests against the offsets in docs/hardware.md#messages.

Modules: :mod:`~qathw.fw.bits` (mask/shift helpers), :mod:`~qathw.fw.common` (header,
middle part, response, status), :mod:`~qathw.fw.la` (lookaside symmetric crypto),
:mod:`~qathw.fw.hw` (cipher and auth slice configuration blocks), :mod:`~qathw.fw.comp`
(compression), :mod:`~qathw.fw.comp20` (gen4 compression slice configuration words),
:mod:`~qathw.fw.sgl` (buffer lists), :mod:`~qathw.fw.dtypes` (numpy
structured dtypes derived from the ctypes layouts, for batches), :mod:`~qathw.fw.spans`
(where a field lies, and ``struct`` formats for runs of fields, computed from the layouts).

Each layout module also names the byte offset of every field that code outside it reads
or writes (``REQ_*_OFFSET``, ``RESP_*_OFFSET``, ...), and the ``struct.Struct`` objects
(``*_FIELDS``) that read several adjacent fields at once; all are computed from the
structures, never typed in.
"""
