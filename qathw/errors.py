"""The qathw error tree.

Every error qathw raises on purpose is a :class:`QatError`. Each carries what went wrong,
and where it helps, the errno the kernel gave, the path involved and a *hint*: one
sentence that says what to do about it. The CLI prints ``qathw: <what>: <hint>``.

Argument mistakes in the Python API (a ``str`` where ``bytes`` are needed, a negative
size) stay :class:`TypeError` / :class:`ValueError`, as in the standard library; and a
failed GCM tag check raises ``cryptography.exceptions.InvalidTag``, as ``cryptography``
does, so that the two engines can be swapped.
"""

from __future__ import annotations

import errno as _errno
import os


class QatError(Exception):
    """Root of every error qathw raises on purpose.

    Args:
        what: what went wrong, in a few words ("cannot open /dev/vfio/12").
        hint: what the user can do about it ("add your user to group qat").
        errno: the errno the kernel returned, when one did.
        path: the file or device involved, when there is one.

    Attributes:
        retryable: whether doing the same thing again, unchanged, is safe and may succeed
            (a full ring, a suspended endpoint, a request lost to a restart whose input is
            intact). False unless the error says otherwise; a request that may have
            changed the caller's buffer is never retryable (docs/api.md#the-replay-rule).
    """

    retryable: bool = False

    def __init__(
        self,
        what: str,
        *,
        hint: str | None = None,
        errno: int | None = None,
        path: str | os.PathLike[str] | None = None,
    ) -> None:
        super().__init__(what)
        self.what = what
        self.hint = hint
        self.errno = errno
        self.path = os.fspath(path) if path is not None else None

    def __str__(self) -> str:
        return f"{self.what}: {self.hint}" if self.hint else self.what

    @property
    def strerror(self) -> str | None:
        """The C library's text for :attr:`errno`, if there is one."""
        return os.strerror(self.errno) if self.errno is not None else None

    @classmethod
    def from_oserror(cls, exc: OSError, what: str, *, hint: str | None = None) -> QatError:
        """Wrap an :class:`OSError`, keeping its errno and path.

        Args:
            exc: the error the system call raised.
            what: what we were doing ("reading /sys/.../qat/state").
            hint: what to do about it; a default is chosen for EACCES/EPERM.

        Returns:
            An instance of ``cls`` chained to nothing; raise it ``from exc``.
        """
        if hint is None and exc.errno in (_errno.EACCES, _errno.EPERM):
            hint = "permission denied; run as root or ask an administrator for access"
        detail = f"{what}: {exc.strerror}" if exc.strerror else what
        return cls(detail, hint=hint, errno=exc.errno, path=exc.filename)


# --- configuration files and sections ------------------------------------------------


class ConfigError(QatError):
    """A configuration file cannot be used (unreadable, or invalid per the driver's rules)."""


class SectionError(QatError):
    """A user section cannot be started or stopped."""


class SectionNotFoundError(SectionError):
    """No configuration file defines the requested user section."""


class SectionsExhaustedError(SectionError):
    """Every internal section of a user section is held by a live process."""


class SectionStateError(SectionError):
    """The call does not fit the process's state (a second start, a stop without start)."""


# --- devices, sysfs, PCI ----------------------------------------------------------------


class DeviceError(QatError):
    """A device cannot be found, read or changed."""


class DeviceNotFoundError(DeviceError):
    """No such PCI function (or no QAT function where one was expected)."""


class DeviceAccessError(DeviceError):
    """The system refused a read or write (permissions, hot-unplug, I/O error)."""


class DeviceStateError(DeviceError):
    """The kernel refused a change because of the device's state (EBUSY, EINVAL)."""


# --- register and memory access ---------------------------------------------------------


class MmioError(QatError):
    """A register access outside the mapped window, or on a closed mapping."""


class DmaError(QatError):
    """A DMA-able buffer cannot be allocated, mapped or freed."""


class DmaPoolExhaustedError(DmaError):
    """The DMA pool has no free block large enough."""


# --- VFIO -------------------------------------------------------------------------------


class VfioError(DeviceError):
    """A VFIO operation failed."""


class VfioGroupNotViableError(VfioError):
    """Not every device of the IOMMU group is bound to vfio-pci (or unbound)."""


class VfioGroupBusyError(VfioError):
    """Another process (or container) holds the IOMMU group."""


class VfioPermissionError(VfioError):
    """This user may not open the VFIO node."""


class MemlockLimitError(VfioError):
    """RLIMIT_MEMLOCK is too low to pin the DMA memory asked for."""


class NoIommuError(VfioError):
    """The kernel has no IOMMU enabled, so VFIO type1 cannot work."""


# --- section broker (lends VFIO fds to section holders) --------------------------------


class BrokerError(QatError):
    """The section broker refused a request, or spoke out of protocol."""


class BrokerUnavailableError(BrokerError):
    """No section broker runs and none could be started (the hint says why)."""


class BrokerGoneError(BrokerError):
    """The section broker ended: every lease it gave is void."""


class BrokerPermissionError(BrokerError):
    """The broker's socket belongs to another user (or the broker is not trusted)."""


# --- transport: rings, mailbox, device health -------------------------------------------


class TransportError(QatError):
    """A ring or mailbox operation failed."""


class RingFullError(TransportError):
    """The request ring has no free slot; retry after polling responses (retryable)."""

    retryable = True


class DeviceSuspendedError(RingFullError):
    """The endpoint is suspended (its host asked, before a migration or a backend switch):
    nothing was sent; it takes requests again once resumed (retryable).

    A subclass of :class:`RingFullError`: it is back-pressure, and ``block=True`` callers
    wait through it (docs/api.md#suspend).
    """


class RingConfigError(TransportError):
    """A ring cannot be programmed as asked (size, alignment, message size)."""


class MailboxError(TransportError):
    """The PF/VF mailbox did not answer, or answered with an error."""


class DeviceRestartError(TransportError):
    """The device restarted, or its backend was replaced: a request got no response.

    Attributes:
        retryable: the request's input is intact, so submitting the same op again is safe
            (nothing was sent, or it was out of place or staged by qathw). False for an
            in-place request on the caller's own device buffer, which the device may have
            half transformed: check or refill the buffer first (docs/api.md#the-replay-rule).
    """

    def __init__(
        self,
        what: str,
        *,
        hint: str | None = None,
        retryable: bool = False,
        errno: int | None = None,
        path: str | os.PathLike[str] | None = None,
    ) -> None:
        super().__init__(what, hint=hint, errno=errno, path=path)
        self.retryable = retryable


class EndpointChangedError(DeviceError):
    """The endpoint came back as one this process cannot go on with (other services,
    capabilities, ring limits or windows): every ring pair on it failed; reopen."""


class DeviceFatalError(TransportError):
    """The device reported a fatal error and stopped."""


class FakedevDefectError(TransportError):
    """The emulated device's own code (fakedev) failed on a request: a bug of the fake.

    Not a device status and not a verdict on the request, which may well be valid. Raised
    on emulated endpoints only; the backend logged the traceback on its stderr.

    Attributes:
        defect: the backend's record of the last defect, ``module:function:line: Type:
            message`` (cleaned text from the control page; "" if none was recorded).
        count: defects the backend had recorded when this was raised.
    """

    def __init__(self, what: str, *, defect: str, count: int, hint: str | None = None) -> None:
        super().__init__(what, hint=hint)
        self.defect = defect
        self.count = count


# --- requests ---------------------------------------------------------------------------


class RequestError(QatError):
    """A request completed with an error status.

    Attributes:
        status: the response's ``comn_status`` byte.
        error_code: the response's error code byte (compression), 0 if none.
    """

    def __init__(
        self,
        what: str,
        *,
        status: int = 0,
        error_code: int = 0,
        hint: str | None = None,
    ) -> None:
        super().__init__(what, hint=hint)
        self.status = status
        self.error_code = error_code


class OutputOverflowError(RequestError):
    """The output buffer was too small; the request did part of its work.

    Attributes:
        result: what was done (for compression: the output produced and the input
            consumed), so that the caller can continue with the rest.
    """

    def __init__(
        self,
        what: str,
        *,
        result: object,
        status: int = 0,
        error_code: int = 0,
        hint: str | None = None,
    ) -> None:
        super().__init__(what, status=status, error_code=error_code, hint=hint)
        self.result = result


class RequestTimeoutError(TransportError):
    """No response came in time; the request may still complete later."""


class UnsupportedAlgorithmError(QatError):
    """The algorithm, mode or key size is not supported; nothing was sent."""


__all__ = [
    "BrokerError",
    "BrokerGoneError",
    "BrokerPermissionError",
    "BrokerUnavailableError",
    "ConfigError",
    "DeviceAccessError",
    "DeviceError",
    "DeviceFatalError",
    "DeviceNotFoundError",
    "DeviceRestartError",
    "DeviceStateError",
    "DeviceSuspendedError",
    "DmaError",
    "DmaPoolExhaustedError",
    "EndpointChangedError",
    "FakedevDefectError",
    "MailboxError",
    "MemlockLimitError",
    "MmioError",
    "NoIommuError",
    "OutputOverflowError",
    "QatError",
    "RequestError",
    "RequestTimeoutError",
    "RingConfigError",
    "RingFullError",
    "SectionError",
    "SectionNotFoundError",
    "SectionStateError",
    "SectionsExhaustedError",
    "TransportError",
    "UnsupportedAlgorithmError",
    "VfioError",
    "VfioGroupBusyError",
    "VfioGroupNotViableError",
    "VfioPermissionError",
]
