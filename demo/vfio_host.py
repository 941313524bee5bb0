"""The host side of the VFIO demo (``python -m demo --vfio``): endpoints, backends, a guest.

Two emulated 4xxx PF endpoint files (the demo's kind and size, power-of-two as ivshmem
needs), each served by its own ``python -m fakedev serve`` on the host, attached to a QEMU
guest (TCG, intel-iommu) as ivshmem-plain functions 00:10.0 and 00:11.0, so the guest
numbers them qat_dev0 and qat_dev1 like the seed's files. The guest runs
:mod:`demo.vfio_seed`. The VM test and the broker benchmark use the same pieces.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from demo import endpoints
from fakedev import endpoint_file
from vm.backend import HostProcess, fakedev_backend
from vm.guest import Guest, GuestSpec
from vm.host import missing_reason

DEVICE = "4xxx"  # PF-style: 64 banks that several processes share, one bank set each
SERVICES = "asym;sym"  # the seed files' ServicesEnabled: bank numbers depend on the order
GUEST_MEMORY = "2G"  # nine holders, a broker and the agent under one kernel
SCENARIO_TIMEOUT = 600.0


@contextlib.contextmanager
def served_endpoints(directory: Path, count: int = 2) -> Iterator[list[HostProcess]]:
    """``count`` endpoint files in ``directory``, each served by its backend on the host.

    The backends stop (by pid) and the files are removed when the block ends.
    """
    paths = [directory / f"qat{n}.ep" for n in range(count)]
    with contextlib.ExitStack() as stack:
        for path in paths:
            endpoint_file.create(path, DEVICE, size=endpoints.SIZE)
            stack.callback(path.unlink, missing_ok=True)
        yield [stack.enter_context(fakedev_backend(p, services=SERVICES)) for p in paths]


def spec_for(backends: list[HostProcess]) -> GuestSpec:
    """A guest that sees each served endpoint as an ivshmem-plain function, in order."""
    return GuestSpec(shared_memory=tuple(Path(b.argv[-1]) for b in backends), memory=GUEST_MEMORY)


def main() -> int:
    """Boot a guest, run the seed scenario in it through VFIO, print what it printed."""
    reason = missing_reason()
    if reason:
        print(f"python -m demo --vfio needs a QEMU guest: {reason}", file=sys.stderr)
        return 2
    print("booting one QEMU guest (TCG: about a minute) with two emulated 4xxx endpoints")
    with tempfile.TemporaryDirectory(prefix="qathw-vfio-demo-", dir="/dev/shm") as tmp:
        with served_endpoints(Path(tmp)) as backends, Guest(spec_for(backends)) as guest:
            result = guest.python("-m", "demo.vfio_seed", timeout=SCENARIO_TIMEOUT)
    print(result.stdout, end="")
    print(result.stderr, end="", file=sys.stderr)
    return result.rc
