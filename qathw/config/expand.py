"""Expansion across devices: internal sections as processes see them.

On one device the kernel creates ``S_INT_i`` (``LimitDevAccess = 0``) or
``S_DEV<d>_INT_i`` (``LimitDevAccess = 1``) for ``i < NumProcesses``
(:mod:`qathw.config.rings`). Across devices, a ``S_INT_i`` name is one internal section
system-wide: the process that holds it gets the instances of *every* device that defines
it, while ``S_DEV<d>_INT_i`` gives the instances of device ``d`` only
(docs/hardware.md#sections-and-processes).

:meth:`Expansion.candidates` lists a user section's internal sections in the order the
driver hands them out: devices in accel-id order, ``i`` ascending, skipping devices that
lack the section (QAT.L.4.24 behaviour; the QAT1.7.L.4.8 / QAT20 "first caller" shortcut
is not reproduced — see :mod:`qathw.sections`), and never ``i`` at or above the
device's ``num_banks x rings_per_bank / 2``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from qathw.config.devices import DeviceRef
from qathw.config.rings import DerivedSection, DeviceExpansion, Instance


@dataclass(frozen=True)
class InternalSection:
    """One name a process can hold, with its parts on each device that defines it.

    Attributes:
        name: ``SSL_DEV0_INT_2`` or ``IPSec_INT_0``.
        user_section: the section name processes ask for (``SSL``).
        process: ``i``.
        limit_dev_access: the name is confined to one device.
        parts: the derived section on each device that defines the name, in accel order.
    """

    name: str
    user_section: str
    process: int
    limit_dev_access: bool
    parts: tuple[DerivedSection, ...]

    @property
    def instances(self) -> tuple[Instance, ...]:
        """Every instance the holder gets, device by device."""
        return tuple(i for part in self.parts for i in part.instances)

    @property
    def devices(self) -> tuple[DeviceRef, ...]:
        return tuple(part.device for part in self.parts)

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "user_section": self.user_section,
            "process": self.process,
            "limit_dev_access": int(self.limit_dev_access),
            "devices": [d.accel_id for d in self.devices],
            "instances": [i.to_dict() for i in self.instances],
        }


@dataclass(frozen=True)
class Expansion:
    """Every internal section of a set of started devices.

    Attributes:
        devices: each device's expansion, in accel-id order.
        sections: internal sections, user sections in ASCII order and each one's names in
            the driver's hand-out order.
    """

    devices: tuple[DeviceExpansion, ...]
    sections: tuple[InternalSection, ...]

    def user_sections(self) -> tuple[str, ...]:
        """The user section names that have at least one internal section."""
        return tuple(dict.fromkeys(s.user_section for s in self.sections))

    def candidates(self, user_section: str) -> tuple[InternalSection, ...]:
        """The internal sections of ``user_section`` in the order the driver hands them out."""
        return tuple(s for s in self.sections if s.user_section == user_section)

    def get(self, name: str) -> InternalSection | None:
        for s in self.sections:
            if s.name == name:
                return s
        return None


def merge(devices: Sequence[DeviceExpansion]) -> Expansion:
    """Combine per-device expansions into internal sections.

    Args:
        devices: expansions in accel-id order.

    Returns:
        The expansion; names at or above a device's process bound are not handed out.
    """
    ordered = sorted(devices, key=lambda d: d.device.accel_id)
    parts: dict[str, list[DerivedSection]] = {}
    order: dict[str, list[str]] = {}
    for dev in ordered:
        profile = dev.device.profile
        bound = profile.max_processes if profile else None
        for derived in dev.derived:
            if bound is not None and derived.process >= bound:
                continue
            parts.setdefault(derived.name, []).append(derived)
            names = order.setdefault(derived.user_section, [])
            if derived.name not in names:
                names.append(derived.name)
    sections = []
    for user in sorted(order, key=lambda n: n.encode("utf-8", "surrogateescape")):
        for name in order[user]:
            first = parts[name][0]
            sections.append(
                InternalSection(
                    name, user, first.process, first.limit_dev_access, tuple(parts[name])
                )
            )
    return Expansion(tuple(ordered), tuple(sections))
