"""Which configuration file configures which device, and each device's number.

``adf_ctl`` reads ``/etc/<type>_dev<N>.conf`` (gen1: ``<type>_qa_dev<N>.conf``), where
``N`` counts devices *of that type*; the kernel numbers every device globally
(``qat_dev<d>``, the accel id), and ``<d>`` is what goes into ``S_DEV<d>_INT_i``
(docs/hardware.md#config-files, #sections-and-processes).

This module reads no host state: which devices the host has, their numbers and whether
they are up arrive as :class:`HostDevice` facts (:mod:`qathw.started` takes them from
discovery). A device is started when it is up and its ``<class>_dev<inst_id>.conf`` is in
the config directory — as ``adf_ctl`` picks the file for ``qat_dev<d>``. With no QAT
device on the host (a laptop, CI, this project's tests), the started devices are the
configuration files present in the config directory, numbered in one deterministic order:
by family (the order of :data:`qathw.ids.FAMILIES`: gen1, then gen2 dh895xcc, c6xx,
c3xxx, d15xx, 200xx, then c4xxx, 4xxx, 420xx, 6xxx), PFs before their VFs, then by ``N``
(:func:`number_devices`). Files that look like configuration but start no device are
reported with the reason (:func:`unused_files`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from qathw.config.profiles import DeviceProfile, profile_for
from qathw.errors import ConfigError
from qathw.ids import FAMILIES
from qathw.paths import ENV_CONFIG_DIR

_FILE_NAME = re.compile(r"(?P<type>[0-9a-z]+?)(?P<qa>_qa)?_dev(?P<n>[0-9]+)\.conf")
# Package templates, which installers copy to <type>_dev<N>.conf (docs/hardware.md#config-files).
_TEMPLATE = re.compile(r".*(\.conf\.(dc|sym|km|vm|xen)|_template\.conf.*)")


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


@dataclass(frozen=True)
class HostDevice:
    """One accel device of the host, as discovery numbered it: the facts config needs.

    Attributes:
        accel_id: ``<d>`` of ``qat_dev<d>``.
        class_name: the device type (``4xxx``, ``4xxxvf``).
        inst_id: its number among devices of that type (``N`` of its file name).
        bdf: its PCI function.
        state: ``"up"``, ``"down"``, or ``None`` when it could not be read.
        start_hint: what brings it up (shown when it is not).
    """

    accel_id: int
    class_name: str
    inst_id: int
    bdf: str
    state: str | None
    start_hint: str = ""

    @property
    def name(self) -> str:
        """``qat_dev<d>``."""
        return f"qat_dev{self.accel_id}"

    @property
    def file_name(self) -> str:
        """The configuration file ``adf_ctl`` reads for it."""
        return config_file_name(self.class_name, self.inst_id)


@dataclass(frozen=True)
class UnusedFile:
    """A file that looks like configuration but configures no started device.

    Attributes:
        path: the file.
        reason: why it is not used (``qat_dev0 (0000:6b:00.0) is down``).
        hint: what to do about it.
    """

    path: str
    reason: str
    hint: str

    def describe(self) -> str:
        """``found <path>, but <reason>``."""
        return f"found {self.path}, but {self.reason}"

    def to_dict(self) -> dict[str, str]:
        return {"file": self.path, "reason": self.reason, "hint": self.hint}


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


def _list(where: Path) -> list[str]:
    try:
        names = sorted(os.listdir(where))
    except OSError as exc:
        raise ConfigError.from_oserror(
            exc,
            f"cannot list the configuration directory {where}",
            hint=f"set {ENV_CONFIG_DIR} to the directory holding <type>_dev<N>.conf",
        ) from exc
    # Not only regular files: a FIFO or a device in a configuration file's place is
    # reported when read, not skipped (skipping renumbers the devices after it).
    return [n for n in names if not (where / n).is_dir()]


def started_devices(
    config_dir: str | os.PathLike[str],
    devices: Sequence[HostDevice] = (),
) -> tuple[DeviceRef, ...]:
    """The started devices: what the host runs with a configuration file, in accel-id order.

    Args:
        config_dir: where ``<type>_dev<N>.conf`` files are.
        devices: the host's accel devices; none means a host without QAT, where the
            configuration files alone say which devices there are.

    Returns:
        The devices in accel-id order (possibly none).

    Raises:
        ConfigError: the directory cannot be listed.
    """
    where = Path(config_dir)
    names = _list(where)
    if devices:
        present = set(names)
        return tuple(
            DeviceRef(d.accel_id, d.class_name, d.inst_id, str(where / d.file_name), d.bdf)
            for d in sorted(devices, key=lambda d: d.accel_id)
            if d.state == "up" and d.file_name in present  # the driver starts only these
        )
    found = []
    for name in names:
        parsed = parse_file_name(name)
        if parsed is not None:
            found.append((where / name, parsed[0], parsed[1]))
    return number_devices(found)


def unused_files(
    config_dir: str | os.PathLike[str],
    devices: Sequence[HostDevice] = (),
) -> tuple[UnusedFile, ...]:
    """The files of ``config_dir`` that look like configuration but start no device.

    A ``<type>_dev<N>.conf`` is unused when its device is not up, or when the host has no
    device of that type and number; a name only close to that form (a package template
    such as ``4xxx_dev0.conf.sym``) is never read by ``adf_ctl``. Other files (``.bak``
    copies, unrelated ``.conf`` files) are not reported.

    Args:
        config_dir: where ``<type>_dev<N>.conf`` files are.
        devices: the host's accel devices, as for :func:`started_devices`.

    Returns:
        Each unused file with the reason and a hint, in name order.

    Raises:
        ConfigError: the directory cannot be listed.
    """
    where = Path(config_dir)
    by_file = {d.file_name: d for d in devices}
    out = []
    for name in _list(where):
        path = str(where / name)
        parsed = parse_file_name(name)
        if parsed is None:
            guess = guess_device_type(name)
            if guess is not None and _TEMPLATE.fullmatch(name):
                out.append(_template(where, path, *guess))
            continue
        device = by_file.get(name)
        if device is None and devices:
            out.append(_no_such_device(path, parsed[0], parsed[1], devices))
        elif device is not None and device.state != "up":
            state = "down" if device.state == "down" else "in a state that could not be read"
            out.append(
                UnusedFile(
                    path,
                    f"{device.name} ({device.bdf}) is {state}",
                    device.start_hint or f"bring {device.bdf} up, then try again",
                )
            )
    return tuple(out)


def _template(where: Path, path: str, class_name: str, n: int | None) -> UnusedFile:
    target = where / config_file_name(class_name, n or 0)
    return UnusedFile(
        path,
        "it is a package template: adf_ctl reads only files named <type>_dev<N>.conf",
        f"copy it to {target} (N is the device's inst_id, as 'qathw status' shows)",
    )


def _no_such_device(
    path: str, class_name: str, n: int, devices: Sequence[HostDevice]
) -> UnusedFile:
    same_type = [d for d in devices if d.class_name == class_name]
    if same_type:
        names = ", ".join(f"{d.file_name} ({d.name})" for d in same_type[:4])
        more = ", ..." if len(same_type) > 4 else ""
        return UnusedFile(
            path,
            f"no {class_name} device has inst_id {n}: the {class_name} devices read {names}{more}",
            "rename it for the device it configures ('qathw status' lists inst_ids)",
        )
    # The device a reader most likely meant: qat_dev<N>, else the first one.
    meant = next((d for d in devices if d.accel_id == n), min(devices, key=lambda d: d.accel_id))
    return UnusedFile(
        path,
        f"{meant.name} is a {meant.class_name} (expects {meant.file_name}) and this host has "
        f"no {class_name}",
        f"if it is meant for {meant.name}, name it {meant.file_name} and check that its "
        f"ServicesEnabled suits a {meant.class_name} ('qathw config check' says)",
    )


def config_file_name(class_name: str, inst_id: int) -> str:
    """The file ``adf_ctl`` reads for a device: ``<class>_dev<N>.conf`` (gen1 ``_qa_dev``).

    Args:
        class_name: the device type (``c6xx``, ``4xxxvf``); a type no family has gets the
            plain form.
        inst_id: ``N``, the device's number among devices of its type.

    Returns:
        The file name, without a directory.
    """
    profile = profile_for(class_name)
    infix = profile.generation.traits.config_infix if profile is not None else ""
    return f"{class_name}{infix}_dev{inst_id}.conf"
