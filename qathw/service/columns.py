"""Requests and responses as numpy columns: what the array forms of batches fill and read.

A batch built as one array starts from ``n`` copies of its session's request template
and writes each per-op field of every request at once, through a structured view of the
block that holds the field (the dtypes derive from the :mod:`qathw.fw` layouts, so the
offsets have one source). Responses are read the same way: one status column.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from qathw.fw import common, la
from qathw.fw.common import RESP_STATUS_OFFSET
from qathw.fw.dtypes import numpy_dtype
from qathw.service import status as st
from qathw.service.completion import Rows

MID = numpy_dtype(common.icp_qat_fw_comn_req_mid)  # buffer addresses and lengths
CIPHER = numpy_dtype(la.icp_qat_fw_la_cipher_req_params)  # the cipher region
AUTH = numpy_dtype(la.icp_qat_fw_la_auth_req_params)  # two-pass: auth region, AAD address
SPC = numpy_dtype(la.icp_qat_fw_la_cipher_20_req_params)  # single pass: AAD and tag
IV_OFF, IV_SZ = la.REQ_CIPHER_IV_OFFSET, la.REQ_CIPHER_IV_SZ


def block(rows: Rows, offset: int, dtype: np.dtype[Any]) -> npt.NDArray[Any]:
    """The ``dtype`` block at ``offset`` of every row, as a column of records.

    A view: setting one of its fields writes that field of every request at once.
    """
    view: npt.NDArray[Any] = rows[:, offset : offset + dtype.itemsize].view(dtype)[:, 0]
    return view


def from_template(template: bytes, n: int) -> Rows:
    """``n`` copies of a 128-byte request template, as an ``(n, 128)`` array."""
    rows = np.empty((n, len(template)), np.uint8)
    rows[:] = np.frombuffer(template, np.uint8)
    return rows


def set_ivs(rows: Rows, ivs: bytes, size: int) -> None:
    """Each row's inline IV: ``size`` bytes of ``ivs`` per row, zero to the field's end.

    Args:
        rows: the requests.
        ivs: the rows' IVs, concatenated.
        size: bytes of each IV (at most the field's 16).
    """
    n = rows.shape[0]
    rows[:, IV_OFF : IV_OFF + size] = np.frombuffer(ivs, np.uint8).reshape(n, size)
    rows[:, IV_OFF + size : IV_OFF + IV_SZ] = 0


def failures(responses: Rows) -> list[int]:
    """The rows whose response status reports an error."""
    failed: list[int] = np.flatnonzero(responses[:, RESP_STATUS_OFFSET] & st.ERROR_MASK).tolist()
    return failed
