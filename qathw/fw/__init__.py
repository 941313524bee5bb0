"""Firmware message layouts: QAT requests, responses, content descriptors, SGLs.

One module per layout family, each structure named like its C original in the kernel's
``qat_common`` (``icp_qat_fw*.h``, ``icp_qat_hw.h``) and DPDK's ``qat_adf``. Every layout
is pinned by tests against the offsets in ../shared/reference/qat-wire-format.md §2-3.

Modules: :mod:`~qathw.fw.bits` (mask/shift helpers), :mod:`~qathw.fw.common` (header,
middle part, response, status), :mod:`~qathw.fw.la` (lookaside symmetric crypto),
:mod:`~qathw.fw.hw` (cipher and auth slice configuration blocks), :mod:`~qathw.fw.comp`
(compression), :mod:`~qathw.fw.comp20` (gen4 compression slice configuration words),
:mod:`~qathw.fw.sgl` (buffer lists), :mod:`~qathw.fw.dtypes` (numpy
structured dtypes derived from the ctypes layouts, for batches).
"""
