"""One entry point for everything: parse, validate, expand, check across devices.

:func:`check` takes documents already tied to devices; :func:`check_files` reads files
named on a command line (device type from the name, or given); :func:`load` reads the
started devices of a configuration directory, as :func:`qathw.user_start` does, given the
host's devices as facts (this package reads no host state).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace

from qathw.config.contract import Expectation, check_contract
from qathw.config.devices import (
    DeviceRef,
    HostDevice,
    UnusedFile,
    guess_device_type,
    number_devices,
    started_devices,
    unused_files,
)
from qathw.config.diagnostics import Diagnostic, Severity, has_errors, strictened
from qathw.config.document import ConfigDocument
from qathw.config.expand import Expansion, merge
from qathw.config.multidevice import SectionTotal, check_devices
from qathw.config.profiles import profile_for
from qathw.config.rings import DeviceExpansion, expand_device
from qathw.config.validate import DeviceConfig, validate


@dataclass(frozen=True)
class FileReport:
    """One file checked for one device.

    Attributes:
        device: the device it configures.
        document: the parsed file.
        config: what it configures (sections with errors left out).
        expansion: its internal sections and ring use; ``None`` when errors came first.
        diagnostics: parse, validation and capacity findings, in that order.
    """

    device: DeviceRef
    document: ConfigDocument
    config: DeviceConfig
    expansion: DeviceExpansion | None
    diagnostics: tuple[Diagnostic, ...]

    @property
    def verdict(self) -> str:
        """``"invalid"`` (errors), ``"warnings"`` (warnings only) or ``"valid"``."""
        if has_errors(self.diagnostics):
            return "invalid"
        if any(d.severity is Severity.WARNING for d in self.diagnostics):
            return "warnings"
        return "valid"


@dataclass(frozen=True)
class ConfigReport:
    """A set of devices checked together.

    Attributes:
        files: one report per device, in accel-id order.
        diagnostics: findings across devices (R10), and the application's contract (R21).
        totals: processes each user section serves.
        expansion: the internal sections of the devices whose files have no errors.
        unused: configuration files of the directory that start no device, and why
            (:func:`load` only).
    """

    files: tuple[FileReport, ...]
    diagnostics: tuple[Diagnostic, ...]
    totals: tuple[SectionTotal, ...]
    expansion: Expansion
    unused: tuple[UnusedFile, ...] = ()

    @property
    def all_diagnostics(self) -> tuple[Diagnostic, ...]:
        return tuple(d for f in self.files for d in f.diagnostics) + self.diagnostics

    @property
    def ok(self) -> bool:
        """No errors anywhere."""
        return not has_errors(self.all_diagnostics)


def check(
    devices: Sequence[tuple[DeviceRef, ConfigDocument]],
    *,
    strict: bool = False,
    cpu_count: int | None = None,
    expect: Sequence[Expectation] = (),
) -> ConfigReport:
    """Validate and expand documents that are tied to devices.

    Args:
        devices: each device with its parsed configuration file.
        strict: every warning becomes an error (``config check --strict``).
        cpu_count: check CoreAffinity against this many CPUs (``None``: no check).
        expect: what the application needs (R21): its section, for how many processes.

    Returns:
        The report.
    """
    reports = []
    for dev, doc in sorted(devices, key=lambda d: d[0].accel_id):
        config, found = validate(doc, dev.profile, cpu_count=cpu_count, accel_id=dev.accel_id)
        diags = list(doc.diagnostics) + found
        expansion = None
        if not has_errors(diags):
            expansion = expand_device(config, dev)
            diags += expansion.diagnostics
        if strict:
            diags = strictened(diags)
        reports.append(FileReport(dev, doc, config, expansion, tuple(diags)))
    # A file of unknown type is no device the others could be compared with.
    multi, totals = check_devices(
        [(r.device, r.config) for r in reports if r.device.profile is not None]
    )
    if strict:
        multi = strictened(multi)
    good = [r.expansion for r in reports if r.expansion is not None and not r.expansion.failed]
    merged = merge(good)
    multi += check_contract(expect, [(r.device, r.document) for r in reports], merged)
    return ConfigReport(tuple(reports), tuple(multi), tuple(totals), merged)


def check_files(
    files: Sequence[str | os.PathLike[str]],
    *,
    device_type: str | None = None,
    strict: bool = False,
    cpu_count: int | None = None,
    expect: Sequence[Expectation] = (),
) -> ConfigReport:
    """Check configuration files given by name, as one set of devices.

    The device type comes from ``device_type`` or from each file name
    (``<type>_dev<N>.conf``, templates such as ``4xxx_template.conf.sym`` too); files
    are numbered as :func:`qathw.config.devices.number_devices` does; ``expect`` is as
    for :func:`check`.

    Raises:
        qathw.errors.ConfigError: a file cannot be read.
    """
    docs = [ConfigDocument.read(f) for f in files]
    found: list[tuple[str, str, int]] = []
    unknown: list[str] = []
    for i, f in enumerate(files):
        guess = guess_device_type(f)
        cls = device_type or (guess[0] if guess else None)
        if cls is None or profile_for(cls) is None:
            unknown.append(os.fspath(f))
            continue
        n = guess[1] if guess and guess[1] is not None else i
        found.append((os.fspath(f), cls, n))
    refs = list(number_devices(found))
    refs += [DeviceRef(len(refs) + j, "unknown", None, path) for j, path in enumerate(unknown)]
    by_path: dict[str, list[DeviceRef]] = {}
    for ref in refs:
        by_path.setdefault(ref.path or "", []).append(ref)
    pairs = [(by_path[doc.path or ""].pop(0), doc) for doc in docs]
    return check(pairs, strict=strict, cpu_count=cpu_count, expect=expect)


def load(
    config_dir: str | os.PathLike[str],
    *,
    devices: Sequence[HostDevice] = (),
    strict: bool = False,
    cpu_count: int | None = None,
) -> ConfigReport:
    """Check the started devices: the ``<type>_dev<N>.conf`` files of ``config_dir``.

    Args:
        config_dir: where the files are.
        devices: the host's accel devices (:func:`qathw.config.devices.started_devices`
            says which of them are started); none: the files alone.

    Returns:
        The report, with the files that start no device in ``unused``.

    Raises:
        qathw.errors.ConfigError: the directory or a file cannot be read.
    """
    started = started_devices(config_dir, devices)
    report = check(
        [(d, ConfigDocument.read(d.path or "")) for d in started],
        strict=strict,
        cpu_count=cpu_count,
    )
    return replace(report, unused=unused_files(config_dir, devices))
