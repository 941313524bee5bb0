"""QAT PCI identities and per-family shape, for every generation.

One table (:data:`FAMILIES`) holds what identifies a QAT function and how large it is:
PCI ids, kernel class names (used in debugfs directories, ``adf_ctl status`` and config
file names), in-tree driver names, banks per PF and VF, rings per bank. Everything else
asks this table; nothing tests ``if generation == 4`` on its own.

Sources: ../shared/reference/qat-host-stack.md §1.1-1.2 (kernel ``adf_accel_devices.h``,
``qat_*/adf_*_hw_data.h``, qatlib ``qat_init.sh.in``), qat-wire-format.md §1.1 and
qat-config-semantics.md §6.1. ``None`` marks a number the references do not establish.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

INTEL_VENDOR_ID = 0x8086

# QEMU's ivshmem device: the PCI function that carries an emulated (fakedev) endpoint.
IVSHMEM_VENDOR_ID = 0x1AF4
IVSHMEM_DEVICE_ID = 0x1110


class Generation(enum.IntEnum):
    """QAT hardware generations. 420xx is driven by the kernel's gen4 code (qatlib: "gen5")."""

    GEN1 = 1  # QAT 1.5/1.6: dh89xxcc, c2xxx (out-of-tree "qatmux" drivers only)
    GEN2 = 2  # QAT 1.7: dh895xcc, c6xx (C62x), c3xxx, d15xx, 200xx
    GEN3 = 3  # QAT 1.8: c4xxx (out-of-tree only)
    GEN4 = 4  # QAT 2.0: 4xxx, 401xx, 402xx, 420xx
    GEN6 = 6  # 6xxx


@dataclass(frozen=True)
class Family:
    """One QAT device family (a PF id and its VF id).

    Attributes:
        name: kernel class name of the PF (``c6xx``, ``4xxx``); 401xx and 402xx report ``4xxx``.
        product: product name as Intel writes it (``C62x``, ``401xx``).
        generation: hardware generation.
        pf_id / vf_id: PCI device ids (vendor 0x8086).
        pf_driver / vf_driver: in-tree PCI driver names (``/sys/bus/pci/drivers/<name>``),
            or the out-of-tree name where no in-tree driver exists.
        in_tree: whether mainline Linux drives the PF.
        pf_banks / vf_banks: ring banks (ring pairs on gen4) per function.
        rings_per_bank: rings in one bank (TX and RX together).
        max_vfs: ``sriov_totalvfs`` of the PF.
        accel / engines: ``#accel`` / ``#engines`` in ``adf_ctl status``.
        firmware: firmware files the PF driver loads.
        vfio_denylisted: vfio-pci refuses the family's ids (gen2, Linux >= 5.9).
    """

    name: str
    product: str
    generation: Generation
    pf_id: int
    vf_id: int
    pf_driver: str | None
    vf_driver: str | None
    in_tree: bool
    pf_banks: int | None
    vf_banks: int | None
    rings_per_bank: int | None
    max_vfs: int | None
    accel: int | None
    engines: int | None
    firmware: tuple[str, ...] = ()
    vfio_denylisted: bool = False

    @property
    def vf_name(self) -> str:
        """Class name of the VF (``4xxxvf``, ``c6xxvf``)."""
        return f"{self.name}vf"


# fmt: off
FAMILIES: tuple[Family, ...] = (
    Family("dh89xxcc", "DH89xxCC", Generation.GEN1, 0x0434, 0x0442, None, None, False,
           None, None, None, None, None, None),
    Family("c2xxx", "C2xxx", Generation.GEN1, 0x1F18, 0x1F19, None, None, False,
           None, None, None, None, None, None),
    Family("dh895xcc", "DH895xCC", Generation.GEN2, 0x0435, 0x0443, "dh895xcc", "dh895xccvf",
           True, 32, 1, 16, 32, 6, 12, ("qat_895xcc.bin", "qat_895xcc_mmp.bin"), True),
    Family("c6xx", "C62x", Generation.GEN2, 0x37C8, 0x37C9, "c6xx", "c6xxvf",
           True, 16, 1, 16, 16, 5, 10, ("qat_c62x.bin", "qat_c62x_mmp.bin"), True),
    Family("c3xxx", "C3xxx", Generation.GEN2, 0x19E2, 0x19E3, "c3xxx", "c3xxxvf",
           True, 16, 1, 16, 16, 3, 6, ("qat_c3xxx.bin", "qat_c3xxx_mmp.bin"), True),
    Family("d15xx", "D15xx", Generation.GEN2, 0x6F54, 0x6F55, "d15xx", "d15xxvf",
           False, 16, 1, 16, 16, None, None),
    Family("200xx", "200xx", Generation.GEN2, 0x18EE, 0x18EF, "200xx", "200xxvf",
           False, 16, 1, 16, 16, None, None),
    Family("c4xxx", "C4xxx", Generation.GEN3, 0x18A0, 0x18A1, "c4xxx", "c4xxxvf",
           False, 128, 1, 8, None, None, None),
    Family("4xxx", "4xxx", Generation.GEN4, 0x4940, 0x4941, "4xxx", "vfio-pci",
           True, 64, 4, 2, 16, 1, 9, ("qat_4xxx.bin", "qat_4xxx_mmp.bin")),
    Family("4xxx", "401xx", Generation.GEN4, 0x4942, 0x4943, "4xxx", "vfio-pci",
           True, 64, 4, 2, 16, 1, 9, ("qat_4xxx.bin", "qat_4xxx_mmp.bin")),
    Family("4xxx", "402xx", Generation.GEN4, 0x4944, 0x4945, "4xxx", "vfio-pci",
           True, 64, 4, 2, 16, 1, 9, ("qat_402xx.bin", "qat_402xx_mmp.bin")),
    # 420xx: one accelerator, 17 engines (kernel adf_420xx_hw_data.h, ADF_GEN4_MAX_ACCELERATORS).
    Family("420xx", "420xx", Generation.GEN4, 0x4946, 0x4947, "420xx", "vfio-pci",
           True, 64, 4, 2, 16, 1, 17, ("qat_420xx.bin", "qat_420xx_mmp.bin")),
    Family("6xxx", "6xxx", Generation.GEN6, 0x4948, 0x4949, "6xxx", "vfio-pci",
           True, 64, 4, 2, 16, None, None, ("qat_6xxx.bin", "qat_6xxx_mmp.bin")),
)
# fmt: on


@dataclass(frozen=True)
class FunctionKind:
    """What a (vendor, device) pair is: which family, and PF or VF."""

    family: Family
    is_vf: bool

    @property
    def class_name(self) -> str:
        """Kernel class name: ``4xxx`` for a 4xxx/401xx/402xx PF, ``4xxxvf`` for its VFs."""
        return self.family.vf_name if self.is_vf else self.family.name

    @property
    def device_id(self) -> int:
        return self.family.vf_id if self.is_vf else self.family.pf_id

    @property
    def banks(self) -> int | None:
        """Ring banks of this function."""
        return self.family.vf_banks if self.is_vf else self.family.pf_banks

    @property
    def generation(self) -> Generation:
        return self.family.generation


_BY_ID: dict[int, FunctionKind] = {}
for _f in FAMILIES:
    _BY_ID[_f.pf_id] = FunctionKind(_f, False)
    _BY_ID[_f.vf_id] = FunctionKind(_f, True)


def lookup(vendor: int, device: int) -> FunctionKind | None:
    """The QAT function kind of a PCI id, or ``None`` if it is not a QAT function.

    Args:
        vendor: PCI vendor id.
        device: PCI device id.

    Returns:
        The kind, or ``None`` for a non-QAT id.
    """
    if vendor != INTEL_VENDOR_ID:
        return None
    return _BY_ID.get(device)


def family_by_class_name(name: str) -> FunctionKind | None:
    """The function kind whose kernel class name is ``name`` (``c6xx``, ``4xxxvf``).

    Used to read config file names (``<class>_dev<N>.conf``). For ``4xxx`` the first
    family of the class (4xxx proper) is returned; 401xx and 402xx share its shape.

    Args:
        name: a class name such as ``dh895xcc``, ``4xxx`` or ``c6xxvf``.

    Returns:
        The kind, or ``None`` if no family has that class name.
    """
    for fam in FAMILIES:
        if fam.name == name:
            return FunctionKind(fam, False)
        if fam.vf_name == name:
            return FunctionKind(fam, True)
    return None
