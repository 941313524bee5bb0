"""Errors of the QEMU harness (not part of qathw's error tree: vm is a test tool)."""

from __future__ import annotations


class VmError(Exception):
    """Something about a guest went wrong; the message says what and what to do."""


class VmUnavailableError(VmError):
    """This machine cannot boot guests (no QEMU, no kernel image, no static busybox)."""


class BootError(VmError):
    """The guest did not come up; the message ends with the tail of its console."""


class GuestTimeoutError(VmError):
    """The guest did not answer in time; the guest has been shut down."""


class GuestCommandError(VmError):
    """A command in the guest exited non-zero (raised by ``Result.check``)."""
