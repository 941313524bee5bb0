"""Which configuration file configures which device, and each device's number.

``adf_ctl`` reads ``/etc/<type>_dev<N>.conf`` (gen1: ``<type>_qa_dev<N>.conf``), where
``N`` counts devices *of that type*; the kernel numbers every device globally
(``qat_dev<d>``, the accel id), and ``<d>`` is what goes into ``S_DEV<d>_INT_i``
(reference §1, §7).

Which devices are "started", and their numbers, come from the host when it has QAT
functions: discovery (:mod:`qathw.discovery`) numbers them as the kernel does, and a
device is started when it is up and its ``<class>_dev<inst_id>.conf`` is in the config
directory — as ``adf_ctl`` picks the file for ``qat_dev<d>``. On a host without QAT
functions (a laptop, CI, this project's tests), the started devices are the configuration
files present in the config directory, numbered in one deterministic order: by family
(the order of :data:`qathw.ids.FAMILIES`: gen1, then gen2 dh895xcc, c6xx, c3xxx, d15xx,
200xx, then c4xxx, 4xxx, 420xx, 6xxx), PFs before their VFs, then by ``N``
(:func:`number_devices`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from qathw import paths
from qathw.config.profiles import DeviceProfile, profile_for
from qathw.discovery import Inventory, discover
from qathw.errors import ConfigError
from qathw.ids import FAMILIES, Generation

_FILE_NAME = re.compile(r"(?P<type>[0-9a-z]+?)(?P<qa>_qa)?_dev(?P<n>[0-9]+)\.conf")


def _class_names() -> list[str]:
    names: list[str] = []
    for fam in FAMILIES:
        for name in (fam.name, fam.vf_name):
            if name not in names:
                names.append(name)
    return names


_CLASS_ORDER = {name: i for i, name in enumerate(_class_names())}


@dataclass(frozen=True)
class DeviceRef:
    """One device as configuration sees it.

    Attributes:
        accel_id: the global device number ``<d>`` (``qat_dev<d>``).
        class_name: the device type (``4xxx``, ``c6xxvf``).
        inst_id: ``N`` of the file name (per type), when the file is named that way.
        path: the configuration file.
        bdf: the PCI function it configures, when discovery found one.
    """

    accel_id: int
    class_name: str
    inst_id: int | None = None
    path: str | None = None
    bdf: str | None = None

    @property
    def name(self) -> str:
        """``qat_dev<d>``, as ``adf_ctl status`` names it."""
        return f"qat_dev{self.accel_id}"

    @property
    def file_name(self) -> str:
        """The configuration file's base name, or ``<type>`` when there is none."""
        return os.path.basename(self.path) if self.path else self.class_name

    @property
    def profile(self) -> DeviceProfile | None:
        return profile_for(self.class_name)

    def to_dict(self) -> dict[str, object]:
        return {
            "accel_id": self.accel_id,
            "name": self.name,
            "type": self.class_name,
            "inst_id": self.inst_id,
            "file": self.path,
            "bdf": self.bdf,
        }


def parse_file_name(name: str) -> tuple[str, int] | None:
    """``(type, N)`` of a name ``<type>_dev<N>.conf`` or ``<type>_qa_dev<N>.conf``.

    Returns:
        The pair, or ``None`` when the name does not have that form or the type is not a
        known device class.
    """
    m = _FILE_NAME.fullmatch(name)
    if m is None or profile_for(m["type"]) is None:
        return None
    return m["type"], int(m["n"])


def guess_device_type(path: str | os.PathLike[str]) -> tuple[str, int | None] | None:
    """The device type a file is for, from looser names too (templates, package names).

    Accepts ``c6xx_dev0.conf.dc``, ``4xxx_template.conf.sym``, ``c6xxpf_dev0.conf``,
    ``c2xxx_qa_dev0_single_ae.conf`` and copies named ``owner__repo__...__<name>``.

    Returns:
        ``(type, N or None)``, or ``None`` when no known class name starts the name.
    """
    base = os.path.basename(os.fspath(path)).split("__")[-1]
    for cls in sorted(_CLASS_ORDER, key=len, reverse=True):
        if base.startswith(cls) and re.match(r"(pf)?_", base[len(cls) :]):
            m = re.search(r"_dev([0-9]+)", base)
            return cls, int(m.group(1)) if m else None
    return None


def number_devices(
    found: Iterable[tuple[str | os.PathLike[str], str, int]],
) -> tuple[DeviceRef, ...]:
    """Give each ``(path, type, N)`` its accel id, in qathw's deterministic device order.

    This is the one function that decides device numbering; discovery will replace its
    order with the kernel's accel ids.

    Returns:
        The devices, ordered by accel id (0, 1, ...).
    """
    items = sorted(
        ((os.fspath(p), t, n) for p, t, n in found),
        key=lambda item: (_CLASS_ORDER.get(item[1], len(_CLASS_ORDER)), item[1], item[2]),
    )
    return tuple(
        DeviceRef(accel_id=i, class_name=t, inst_id=n, path=p) for i, (p, t, n) in enumerate(items)
    )


def started_devices(
    config_dir: str | os.PathLike[str] | None = None,
    *,
    inventory: Inventory | None = None,
) -> tuple[DeviceRef, ...]:
    """The started devices: what the host runs with a configuration file, in accel-id order.

    Args:
        config_dir: where ``<type>_dev<N>.conf`` files are; ``$QATHW_CONFIG_DIR`` or ``/etc``.
        inventory: the host's QAT functions; discovered under ``$QATHW_SYSFS_ROOT`` (or
            ``/``) when ``None``. With no QAT function on the host, the configuration
            files alone say which devices there are.

    Returns:
        The devices in accel-id order (possibly none).

    Raises:
        ConfigError: the directory cannot be listed.
    """
    where = Path(config_dir) if config_dir is not None else paths.config_dir()
    try:
        names = sorted(os.listdir(where))
    except OSError as exc:
        raise ConfigError.from_oserror(
            exc,
            f"cannot list the configuration directory {where}",
            hint=f"set {paths.ENV_CONFIG_DIR} to the directory holding <type>_dev<N>.conf",
        ) from exc
    inv = inventory if inventory is not None else discover()
    if inv.accel_devices:
        return _discovered_devices(inv, where, set(names))
    found = []
    for name in names:
        parsed = parse_file_name(name)
        if parsed is not None and (where / name).is_file():
            found.append((where / name, parsed[0], parsed[1]))
    return number_devices(found)


def config_file_name(class_name: str, inst_id: int, generation: Generation) -> str:
    """The file ``adf_ctl`` reads for a device: ``<class>_dev<N>.conf`` (gen1 ``_qa_dev``)."""
    infix = "_qa" if generation == Generation.GEN1 else ""
    return f"{class_name}{infix}_dev{inst_id}.conf"


def _discovered_devices(inv: Inventory, where: Path, names: set[str]) -> tuple[DeviceRef, ...]:
    devices = []
    for fn in inv.accel_devices:
        if fn.state != "up" or fn.accel_id is None or fn.inst_id is None:
            continue  # the driver starts only devices that are up
        name = config_file_name(fn.class_name, fn.inst_id, fn.generation)
        if name in names and (where / name).is_file():
            devices.append(
                DeviceRef(
                    accel_id=fn.accel_id,
                    class_name=fn.class_name,
                    inst_id=fn.inst_id,
                    path=str(where / name),
                    bdf=fn.bdf,
                )
            )
    return tuple(devices)
