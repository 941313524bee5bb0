"""A request the device refuses, and the response bits that say why."""

from __future__ import annotations


class Reject(Exception):  # noqa: N818 - a device outcome, not a Python error condition
    """Raised inside the engine when a request cannot run; becomes an error response.

    Attributes:
        status: ``comn_status`` bits (:class:`qathw.fw.common.Status`).
        cmp_err: value for response byte 5 (``cmp_err_code`` / LA ``comn_err_code``).
        xlat_err: value for response byte 4 (``xlat_err_code``).
        why: a sentence for the device log and the tests.
    """

    def __init__(self, status: int, why: str, *, cmp_err: int = 0, xlat_err: int = 0) -> None:
        super().__init__(why)
        self.status = status
        self.cmp_err = cmp_err
        self.xlat_err = xlat_err
        self.why = why
