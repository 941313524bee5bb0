"""What the configuration layer needs to know about a device type, as data.

A :class:`DeviceProfile` is derived from the family table (:mod:`qathw.ids`): generation,
PF or VF, banks and rings per bank. From those follow the ring layout the driver builds
(docs/hardware.md#ring-capacity: four service slots per bank when a bank has at least 8
rings, otherwise one ring pair per bank serving slot ``bank mod 4``), the process bound
(docs/hardware.md#sections-and-processes), and which section names are special on that
generation (docs/hardware.md#config-files).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from qathw.ids import Generation, family_by_class_name

# The section names the driver treats specially on some generation
# (docs/hardware.md#config-files); every other name is a user section, expanded per process.
GENERAL = "GENERAL"
KERNEL = "KERNEL"
KERNEL_QAT = "KERNEL_QAT"
SIOV = "SIOV"
INLINE = "INLINE"
DEBUG = "DEBUG"
WIRELESS = "WIRELESS"
#: ``[Accelerator<N>]``: written by the kernel into its copy of the file, never by users.
ACCELERATOR = re.compile(r"Accelerator[0-9]+")


@dataclass(frozen=True)
class DeviceProfile:
    """One device type as the configuration layer sees it.

    Attributes:
        class_name: kernel class name (``c6xx``, ``4xxxvf``); the file name prefix.
        generation: hardware generation.
        is_vf: a virtual function.
        banks: ring banks of the function (``None``: not modelled, gen1).
        rings_per_bank: rings per bank, TX and RX together.
    """

    class_name: str
    generation: Generation
    is_vf: bool
    banks: int | None
    rings_per_bank: int | None

    @property
    def modelled(self) -> bool:
        """Whether the ring layout (and so capacity) is modelled for this type."""
        return self.banks is not None and self.rings_per_bank is not None

    @property
    def max_processes(self) -> int | None:
        """``GET_MAX_PROCESSES``: internal names with ``i`` at or above it are never handed out."""
        if self.banks is None or self.rings_per_bank is None:
            return None
        return self.banks * self.rings_per_bank // 2

    @property
    def slots_per_bank(self) -> int:
        """Service slots of one bank: 4 with at least 8 rings per bank, else 1 (gen4)."""
        return 4 if (self.rings_per_bank or 0) >= 8 else 1

    @property
    def per_bank_layout(self) -> bool:
        """Gen4 style: one ring pair per bank, bank ``b`` serving slot ``b mod 4``."""
        return self.slots_per_bank == 1

    @property
    def k20_allocator(self) -> bool:
        """The QAT20 ring allocator (polled instances from bank 0, exact core match)."""
        return self.generation.traits.qat20_driver

    def kernel_sections(self) -> tuple[str, ...]:
        """Sections whose instances are created once, for kernel users."""
        return (KERNEL, KERNEL_QAT) if self.generation.traits.kernel_qat_section else (KERNEL,)

    def quiet_sections(self) -> tuple[str, ...]:
        """Special sections that create no instances on this generation."""
        traits = self.generation.traits
        # [INLINE]: c4xxx reads inline IPsec from it; QAT20 skips it as a no-op.
        optional = (
            (SIOV, traits.siov),
            (INLINE, traits.inline_ipsec or traits.qat20_driver),
            (WIRELESS, traits.wireless_section),
        )
        return (GENERAL, DEBUG, *(name for name, special in optional if special))


def kernel_sections(profile: DeviceProfile | None) -> tuple[str, ...]:
    """:meth:`DeviceProfile.kernel_sections`; for a type no family has, those of gen2/gen3."""
    return profile.kernel_sections() if profile is not None else (KERNEL, KERNEL_QAT)


def quiet_sections(profile: DeviceProfile | None) -> tuple[str, ...]:
    """:meth:`DeviceProfile.quiet_sections`; for a type no family has, ``GENERAL`` alone."""
    return profile.quiet_sections() if profile is not None else (GENERAL,)


def is_user_section(name: str, profile: DeviceProfile | None) -> bool:
    """Whether the driver expands ``[name]`` per process on this device type.

    Args:
        name: a section name, exactly as in the file.
        profile: the device type (``None``: a type no family has).

    Returns:
        False for the kernel, quiet and kernel-generated sections of that type; True for
        every other name (``SSL``, ``SHIM``, and also ``KERNEL_QAT`` on gen4, as QAT20 does).
    """
    if ACCELERATOR.fullmatch(name):
        return False
    return name not in kernel_sections(profile) and name not in quiet_sections(profile)


def profile_for(class_name: str) -> DeviceProfile | None:
    """The profile of a device class name, or ``None`` for a name no family has."""
    kind = family_by_class_name(class_name)
    if kind is None:
        return None
    fam = kind.family
    return DeviceProfile(
        class_name=kind.class_name,
        generation=fam.generation,
        is_vf=kind.is_vf,
        banks=kind.banks if fam.rings_per_bank is not None else None,
        rings_per_bank=fam.rings_per_bank,
    )
