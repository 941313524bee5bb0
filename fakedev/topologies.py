"""Topologies for fake sysfs trees: what a host has, described as data.

A :class:`Topology` lists PFs (each with its VFs and their drivers) and emulated
endpoints, plus the host-wide facts the kernel's behaviour depends on (kernel version,
IOMMU, firmware present). :func:`fakedev.sysfs.build` turns one into a directory tree.

Named topologies (:data:`NAMED`):

``seed``
    Two 4xxx endpoints, up, ``sym;asym`` and ``dc``, 16 VFs each on ``vfio-pci``.
``spr-2s``
    A two-socket Sapphire Rapids host as ``lspci -d 8086:4940`` shows one: eight 4xxx
    PFs at 6b/70/75/7a (node 0) and e8/ed/f2/f7 (node 1), kernel default services
    (``sym;asym`` on even accel ids, ``dc`` on odd), 16 VFs each on ``vfio-pci``.
``c62x-3dev``
    Three C62x PFs (3d, 3f, da) on the in-tree ``c6xx`` driver, no VFs: the classic
    ``adf_ctl status`` host.
``dh895xcc``
    One DH895xCC PF with 32 VFs on the in-tree ``dh895xccvf`` driver.
``gen4-mix``
    One PF of each gen4 product (4xxx, 401xx, 402xx, 420xx), some VFs enabled.
``awkward``
    The cases that break tools: a PF whose VFs are bound to different drivers (vfio-pci,
    none, qat_vfio_pci), a PF that is down while its VFs still exist (caught mid-reset), a
    PF with no driver bound, and a gen2 PF with VFs left unbound (vfio-pci refuses them).
``empty``
    No QAT device at all.

Where a number is the fake's choice rather than a published fact (BAR sizes, IOMMU
group numbers, revision ids other than 4xxx's 0x40) it says so next to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

AUTO = "auto"  # "the family's own driver"


@dataclass(frozen=True)
class PfSpec:
    """One physical function and its VFs.

    Attributes:
        bdf: PCI address of the PF.
        product: the family's product name in :data:`qathw.ids.FAMILIES` (``4xxx``,
            ``401xx``, ``402xx``, ``420xx``, ``6xxx``, ``C62x``, ``DH895xCC``, ``C3xxx``).
        driver: the PF driver; :data:`AUTO` for the family's in-tree driver, ``None``
            for unbound.
        state: ``up`` or ``down`` (gen4+); a ``down`` PF with ``num_vfs`` is the
            mid-reset case the kernel passes through.
        services: ``cfg_services``; ``None`` for the kernel's default.
        num_vfs: VFs to enable (the QAT driver always enables all, so anything but 0
            gives ``sriov_totalvfs`` VFs).
        vf_driver: driver of the VFs once enabled (``None`` unbound, :data:`AUTO` the
            family's in-tree VF driver).
        vf_drivers: per-VF-index exceptions to ``vf_driver``.
        numa_node: NUMA node of the PF and its VFs.
        revision: PCI revision id.
    """

    bdf: str
    product: str = "4xxx"
    driver: str | None = AUTO
    state: str = "up"
    services: str | None = None
    num_vfs: int = 0
    vf_driver: str | None = "vfio-pci"
    vf_drivers: Mapping[int, str | None] = field(default_factory=lambda: MappingProxyType({}))
    numa_node: int = 0
    revision: int | None = None


@dataclass(frozen=True)
class EmulatedSpec:
    """An emulated endpoint presented as a QEMU ivshmem function.

    Attributes:
        bdf: address of the ivshmem function.
        path: the endpoint's shared-memory file (created by fakedev's device model).
        driver: ``None`` (as QEMU leaves it) or ``vfio-pci``.
        numa_node: NUMA node reported.
    """

    bdf: str
    path: Path
    driver: str | None = None
    numa_node: int = -1


@dataclass(frozen=True)
class Topology:
    """A whole host.

    Attributes:
        name: a short name.
        pfs: the physical functions.
        emulated: emulated endpoints.
        kernel: kernel version (major, minor); decides which ``qat/`` attributes exist
            and the ``cfg_services`` grammar (docs/hardware.md#sysfs-abi).
        iommu: ``on``, ``off`` or ``noiommu`` (VFIO's unsafe no-IOMMU mode).
        firmware: whether the families' firmware files are in ``<prefix>/lib/firmware``.
        loaded_drivers: extra PCI drivers to present as loaded (``vfio-pci`` always is
            when the IOMMU is not off).
        hugepages_2m: ``nr_hugepages`` of the 2 MiB pool.
    """

    name: str
    pfs: tuple[PfSpec, ...] = ()
    emulated: tuple[EmulatedSpec, ...] = ()
    kernel: tuple[int, int] = (6, 8)
    iommu: str = "on"
    firmware: bool = True
    loaded_drivers: tuple[str, ...] = ()
    hugepages_2m: int = 0


def _spr_2s() -> Topology:
    buses = (0x6B, 0x70, 0x75, 0x7A, 0xE8, 0xED, 0xF2, 0xF7)
    return Topology(
        "spr-2s",
        tuple(
            PfSpec(f"0000:{bus:02x}:00.0", "4xxx", num_vfs=16, numa_node=0 if bus < 0x80 else 1)
            for bus in buses
        ),
        hugepages_2m=1024,
    )


NAMED: Mapping[str, Topology] = MappingProxyType(
    {
        "seed": Topology(
            "seed",
            (
                PfSpec("0000:6b:00.0", "4xxx", services="sym;asym", num_vfs=16, numa_node=0),
                PfSpec("0000:70:00.0", "4xxx", services="dc", num_vfs=16, numa_node=0),
            ),
        ),
        "spr-2s": _spr_2s(),
        "c62x-3dev": Topology(
            "c62x-3dev",
            (
                PfSpec("0000:3d:00.0", "C62x", numa_node=0, vf_driver=AUTO),
                PfSpec("0000:3f:00.0", "C62x", numa_node=0, vf_driver=AUTO),
                PfSpec("0000:da:00.0", "C62x", numa_node=1, vf_driver=AUTO),
            ),
            kernel=(6, 1),
        ),
        "dh895xcc": Topology(
            "dh895xcc",
            (PfSpec("0000:03:00.0", "DH895xCC", num_vfs=32, vf_driver=AUTO),),
            kernel=(6, 1),
        ),
        "gen4-mix": Topology(
            "gen4-mix",
            (
                PfSpec("0000:6b:00.0", "4xxx", num_vfs=16),
                PfSpec("0000:76:00.0", "401xx", services="asym", num_vfs=0),
                PfSpec("0000:e8:00.0", "402xx", services="sym", num_vfs=16, numa_node=1),
                PfSpec("0000:f3:00.0", "420xx", services="dc", num_vfs=16, numa_node=1),
            ),
            kernel=(6, 9),
        ),
        "awkward": Topology(
            "awkward",
            (
                PfSpec(
                    "0000:6b:00.0",
                    "4xxx",
                    services="sym;asym",
                    num_vfs=16,
                    vf_drivers=MappingProxyType({1: None, 2: "qat_vfio_pci", 3: None}),
                ),
                PfSpec("0000:70:00.0", "4xxx", state="down", services="dc", num_vfs=16),
                PfSpec("0000:75:00.0", "4xxx", driver=None),
                PfSpec("0000:3d:00.0", "C62x", num_vfs=16, vf_driver="vfio-pci"),
            ),
            loaded_drivers=("qat_vfio_pci",),
        ),
        "empty": Topology("empty"),
    }
)
