"""The emulated endpoint a VM test attaches, and the facts the guest checks it against.

The file is made by fakedev (``fakedev.endpoint_file.create``, what ``python -m fakedev
create`` runs); the host passes what it made to the guest in ``QATHW_VM_EP_*``
variables, so the guest compares what it reads through VFIO with what the host wrote.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from fakedev import endpoint_file
from vm.guest import IVSHMEM_FIRST_SLOT


@dataclass(frozen=True)
class EndpointFacts:
    """What the host wrote, for the guest to check against."""

    path: str
    total_size: int
    vendor_id: int
    device_id: int
    num_banks: int
    rings_per_bank: int
    devmem_offset: int
    backend_pid: int = 0
    bdf: str = ""  # where the guest sees it (see ivshmem_bdf)

    def as_env(self) -> dict[str, str]:
        return {f"QATHW_VM_EP_{k.upper()}": str(v) for k, v in asdict(self).items()}


def ivshmem_bdf(index: int) -> str:
    """The guest's PCI address of ``GuestSpec.shared_memory[index]`` (its fixed slot)."""
    return f"0000:00:{IVSHMEM_FIRST_SLOT + index:02x}.0"


def create_endpoint_file(
    path: Path, *, device: str = "4xxxvf", total_size: int = 4 << 20
) -> EndpointFacts:
    """Create an emulated endpoint file with fakedev; what it holds."""
    info = endpoint_file.create(path, device, size=total_size)
    return EndpointFacts(
        path=str(path),
        total_size=info.windows.total_size,
        vendor_id=info.vendor_id,
        device_id=info.device_id,
        num_banks=info.num_banks,
        rings_per_bank=info.rings_per_bank,
        devmem_offset=info.windows.devmem_offset,
    )


def facts_from_env(env: dict[str, str]) -> EndpointFacts:
    """The facts the host passed to the guest in ``QATHW_VM_EP_*`` variables."""

    def get(name: str) -> int:
        return int(env[f"QATHW_VM_EP_{name.upper()}"])

    return EndpointFacts(
        path=env["QATHW_VM_EP_PATH"],
        total_size=get("total_size"),
        vendor_id=get("vendor_id"),
        device_id=get("device_id"),
        num_banks=get("num_banks"),
        rings_per_bank=get("rings_per_bank"),
        devmem_offset=get("devmem_offset"),
        backend_pid=get("backend_pid"),
        bdf=env.get("QATHW_VM_EP_BDF", ""),
    )
