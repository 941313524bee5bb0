"""vm: a scripted QEMU harness that boots Debian's kernel with an emulated QAT endpoint.

Two guest profiles, both TCG with q35 + intel-iommu and one ivshmem-plain function per
shared-memory file. :class:`Guest` (virtme-ng) reads the host root read-only over 9p and
runs pytest selections; :class:`MigratableGuest` boots from an initramfs built from host
files and can move: ``migrate``, ``save``, ``restore``::

    from vm import Guest, GuestSpec, MigratableGuest, MigratableSpec

    with Guest(GuestSpec(shared_memory=(Path("/dev/shm/ep.qat"),))) as guest:
        print(guest.run("lspci -nn").stdout)
        run = guest.pytest("tests/vm/guest")

    with MigratableGuest(MigratableSpec(shared_memory=(old,))) as guest:
        report = guest.migrate([new], before=stop_old_backend, after=start_new_backend)

The command line is ``python -m vm`` (``check``, ``run``, ``pytest``, ``initramfs``,
``kvm-probe``). Every process the harness starts is ended by pid on every path; see
:mod:`vm.procs`.
"""

from vm.errors import (
    BootError,
    GuestCommandError,
    GuestTimeoutError,
    MigrationError,
    RestoreError,
    SaveError,
    VmError,
    VmUnavailableError,
)
from vm.guest import Guest, GuestSpec, PytestRun, Result
from vm.migratable import (
    MigratableGuest,
    MigratableSpec,
    MigrationReport,
    MigrationTuning,
    RestoreReport,
    SaveReport,
)

__all__ = [
    "BootError",
    "Guest",
    "GuestCommandError",
    "GuestSpec",
    "GuestTimeoutError",
    "MigratableGuest",
    "MigratableSpec",
    "MigrationError",
    "MigrationReport",
    "MigrationTuning",
    "PytestRun",
    "RestoreError",
    "RestoreReport",
    "Result",
    "SaveError",
    "SaveReport",
    "VmError",
    "VmUnavailableError",
]
