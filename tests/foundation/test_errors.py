"""The error tree: what, hint, errno and path, and how they print."""

import errno

import pytest

from qathw import errors
from qathw.errors import QatError


def test_str_is_what_then_hint() -> None:
    exc = QatError("cannot open /dev/vfio/12", hint="add your user to group qat")
    assert str(exc) == "cannot open /dev/vfio/12: add your user to group qat"


def test_str_without_hint_is_what() -> None:
    assert str(QatError("no QAT device")) == "no QAT device"


def test_from_oserror_keeps_errno_path_and_gives_permission_hint() -> None:
    os_exc = PermissionError(errno.EACCES, "Permission denied", "/dev/vfio/3")
    exc = errors.DeviceAccessError.from_oserror(os_exc, "opening /dev/vfio/3")
    assert isinstance(exc, errors.DeviceAccessError)
    assert exc.errno == errno.EACCES
    assert exc.path == "/dev/vfio/3"
    assert exc.hint is not None and "root" in exc.hint
    assert "Permission denied" in str(exc)


@pytest.mark.parametrize(
    "cls",
    [getattr(errors, name) for name in errors.__all__],
)
def test_every_error_is_a_qaterror(cls: type) -> None:
    assert issubclass(cls, QatError)


def test_request_error_keeps_status_and_code() -> None:
    exc = errors.RequestError("compression failed", status=0x20, error_code=-11)
    assert (exc.status, exc.error_code) == (0x20, -11)
