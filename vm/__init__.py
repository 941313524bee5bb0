"""vm: a scripted QEMU harness that boots Debian's kernel with an emulated QAT endpoint.

Boot a guest (TCG, q35 + intel-iommu, the host root read-only through virtme-ng), run
commands or a pytest selection in it, shut it down::

    from vm import Guest, GuestSpec

    with Guest(GuestSpec(shared_memory=(Path("/dev/shm/ep.qat"),))) as guest:
        print(guest.run("lspci -nn").stdout)
        run = guest.pytest("tests/vm/guest")

The command line is ``python -m vm`` (``check``, ``run``, ``pytest``, ``kvm-probe``).
Every process the harness starts is ended by pid on every path; see :mod:`vm.procs`.
"""

from vm.errors import (
    BootError,
    GuestCommandError,
    GuestTimeoutError,
    VmError,
    VmUnavailableError,
)
from vm.guest import Guest, GuestSpec, PytestRun, Result

__all__ = [
    "BootError",
    "Guest",
    "GuestCommandError",
    "GuestSpec",
    "GuestTimeoutError",
    "PytestRun",
    "Result",
    "VmError",
    "VmUnavailableError",
]
