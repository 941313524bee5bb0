"""Checks across a set of devices (dev0 .. devN) and how many processes each section serves.

Rules (R10; docs/hardware.md#sections-and-processes and the Kubernetes device plugin's own
checks):

* one user section name has the same ``LimitDevAccess`` on every device that defines it
  (else its internal names mix ``S_INT_i`` and ``S_DEV<d>_INT_i``);
* with ``LimitDevAccess = 0``, ``NumProcesses`` is the same everywhere (the names are
  shared: the largest value wins and the others leave some processes without instances
  on some devices);
* a ``LimitDevAccess = 1`` section exists on every device, and in any case on the first
  one (the QAT1.7.L.4.8 / QAT20 "first caller" shortcut hands out ``S_DEV<first>_INT_0``
  without checking that it exists);
* one user section has the same ``NumberCyInstances`` and ``NumberDcInstances`` on every
  device that defines it.

The driver accepts all of these, so they are warnings; ``config check --strict`` makes
them errors, as Intel's Kubernetes QAT device plugin did: its kernel mode (releases up to
v0.33; ``cmd/qat_plugin/kerneldrv/kerneldrv.go``, ``driverConfig.update`` and
``parseConfigs``) refused such a set of files, and each message quotes its error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from qathw.config.devices import DeviceRef
from qathw.config.diagnostics import Diagnostic, Severity
from qathw.config.validate import DeviceConfig

#: Who refuses what the driver takes (the messages quote it).
PLUGIN = "Intel's Kubernetes QAT device plugin (kernel mode) refuses this"


@dataclass(frozen=True)
class SectionTotal:
    """How many processes one user section serves across the devices.

    Attributes:
        name: the user section.
        processes: distinct internal names, i.e. processes that can hold it at once.
        per_device: ``(accel id, NumProcesses, LimitDevAccess)`` where it is defined.
        instances_per_process: instances one holder gets, summed over the devices its
            internal section spans (the largest, when holders differ).
    """

    name: str
    processes: int
    per_device: tuple[tuple[int, int, bool], ...]
    instances_per_process: int

    def describe(self) -> str:
        """``"[SSL] serves 8 processes (4 on qat_dev0 + 4 on qat_dev1), 1 instance each"``."""
        spread = " + ".join(f"{n} on qat_dev{d}" for d, n, _ in self.per_device)
        plural = "es" if self.processes != 1 else ""
        inst = self.instances_per_process
        return (
            f"[{self.name}] serves {self.processes} process{plural} ({spread}), "
            f"{inst} instance{'s' if inst != 1 else ''} each"
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "section": self.name,
            "processes": self.processes,
            "instances_per_process": self.instances_per_process,
            "devices": [
                {"accel_id": d, "num_processes": n, "limit_dev_access": int(lda)}
                for d, n, lda in self.per_device
            ],
        }


def check_devices(
    configs: Sequence[tuple[DeviceRef, DeviceConfig]],
) -> tuple[list[Diagnostic], list[SectionTotal]]:
    """R10 over a set of devices, and each user section's process total.

    Args:
        configs: each device with its configuration, in any order.

    Returns:
        The diagnostics and one total per user section (ASCII order).
    """
    ordered = sorted(configs, key=lambda c: c[0].accel_id)
    out: list[Diagnostic] = []
    names = sorted(
        {s.name for _, c in ordered for s in c.user_sections},
        key=lambda n: n.encode("utf-8", "surrogateescape"),
    )
    totals = []
    for name in names:
        where = [(dev, cfg, cfg.user_section(name)) for dev, cfg in ordered]
        present = [(dev, sec) for dev, _, sec in where if sec is not None]
        missing = [dev for dev, _, sec in where if sec is None]
        ldas = {sec.limit_dev_access for _, sec in present}
        first, first_sec = present[0]
        if len(ldas) > 1:
            detail = ", ".join(f"{int(s.limit_dev_access)} on {d.name}" for d, s in present)
            out.append(
                Diagnostic(
                    "R10",
                    Severity.WARNING,
                    f"[{name}] has LimitDevAccess {detail}: its internal sections mix "
                    f"{name}_INT_i and {name}_DEV<d>_INT_i names. {PLUGIN}: "
                    f'"Value of LimitDevAccess must be consistent across all devices in '
                    f'{name}"',
                    "use the same LimitDevAccess on every device",
                    file=first.path,
                    line=first_sec.line,
                    column=1,
                )
            )
        shared = [(d, s) for d, s in present if not s.limit_dev_access]
        counts = {s.num_processes for _, s in shared}
        if len(counts) > 1:
            detail = ", ".join(f"{s.num_processes} on {d.name}" for d, s in shared)
            out.append(
                Diagnostic(
                    "R10",
                    Severity.WARNING,
                    f"[{name}] has LimitDevAccess = 0 but NumProcesses {detail}: the shared "
                    f"names {name}_INT_i number {max(counts)}, and some holders get no "
                    f"instances on the devices with fewer. {PLUGIN}: 'For not pinned "
                    f'section "{name}" NumProcesses must be equal for all devices\'',
                    "use the same NumProcesses on every device",
                    file=first.path,
                    line=first_sec.line,
                    column=1,
                )
            )
        if any(s.limit_dev_access for _, s in present) and missing:
            first_missing = missing[0].accel_id == ordered[0][0].accel_id
            shortcut = (
                f" On QAT1.7.L.4.8 and QAT20 the first process to start any section gets "
                f"{name}_DEV{ordered[0][0].accel_id}_INT_0 of the first device, which does "
                "not exist there, and so no instances."
                if first_missing
                else ""
            )
            out.append(
                Diagnostic(
                    "R10",
                    Severity.WARNING,
                    f"[{name}] has LimitDevAccess = 1 but is missing on "
                    + ", ".join(f"{d.name} ({d.file_name})" for d in missing)
                    + "."
                    + shortcut
                    + f' {PLUGIN}: "Section [{name}] must be defined for all QAT devices '
                    'since it contains LimitDevAccess=1"',
                    "define a LimitDevAccess = 1 section on every device",
                    file=first.path,
                    line=first_sec.line,
                    column=1,
                )
            )
        instances = {(len(s.cy), len(s.dc)) for _, s in present}
        if len(instances) > 1:
            detail = ", ".join(f"{len(s.cy)}/{len(s.dc)} on {d.name}" for d, s in present)
            out.append(
                Diagnostic(
                    "R10",
                    Severity.WARNING,
                    f"[{name}] has NumberCyInstances/NumberDcInstances {detail}: a holder "
                    f"gets a different set of instances depending on the device. {PLUGIN}: "
                    f'"NumberCyInstances and NumberDcInstances must be consistent across '
                    f'all devices in {name}"',
                    "use the same instance counts on every device",
                    file=first.path,
                    line=first_sec.line,
                    column=1,
                )
            )
        processes = len(
            {
                f"DEV{d.accel_id}_{i}" if s.limit_dev_access else f"INT_{i}"
                for d, s in present
                for i in range(s.num_processes)
            }
        )
        per_holder = 0
        shared_sum = sum(len(s.cy) + len(s.dc) for _, s in shared if s.num_processes)
        for _, s in present:
            own = len(s.cy) + len(s.dc)
            per_holder = max(per_holder, own if s.limit_dev_access else shared_sum)
        totals.append(
            SectionTotal(
                name,
                processes,
                tuple((d.accel_id, s.num_processes, s.limit_dev_access) for d, s in present),
                per_holder,
            )
        )
    return out, totals
