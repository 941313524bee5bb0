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


class MigrationError(VmError):
    """A migration was refused or failed; the guest still runs where it ran before."""


class SaveError(VmError):
    """A guest could not be saved; it still runs, and no file was left behind."""


class RestoreError(VmError):
    """A saved guest could not be restored; nothing was left running."""
