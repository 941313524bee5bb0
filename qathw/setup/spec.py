"""The set-up file: which PFs get which services, how many VFs, which VF driver.

A TOML file of ``[[pf]]`` entries, applied in order (a later entry overrides an earlier
one for the PFs both match)::

    [[pf]]
    match = "all"            # all, gen4, node1, 0000:6b:00.0, qat_dev0, or a list of them
    services = "sym;asym"    # qat/cfg_services
    vfs = "all"              # "all" (sriov_totalvfs) or 0: QAT drivers enable all or none
    vf_driver = "vfio-pci"   # vfio-pci, the QAT VF driver (4xxxvf...), or "none"

A key left out leaves that setting as the host has it. These are what qatlib's
``qat_service`` / ``qat_init.sh`` set from ``/etc/sysconfig/qat`` (``ServicesEnabled``;
every VF enabled and bound to vfio-pci, ``LKCF_LIST`` ones to the kernel VF driver;
docs/hardware.md#host-setup), per PF instead of for the whole host.

This module checks the file alone (keys, types, syntax); what the host makes of it is
:mod:`qathw.setup.plan`'s.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from dataclasses import dataclass

from qathw import cfg_services
from qathw.errors import ConfigError

KEYS = ("match", "services", "vfs", "vf_driver")
ALL_VFS = "all"


@dataclass(frozen=True)
class Entry:
    """One ``[[pf]]`` entry.

    Attributes:
        number: its position in the file, from 1 (for messages).
        match: the selectors (``all``, ``gen4``, ``node1``, a BDF, ``qat_devN``).
        services: ``cfg_services`` to set, or ``None`` to leave.
        vfs: ``"all"``, a count, or ``None`` to leave.
        vf_driver: the VFs' driver (``None`` to leave; ``"none"`` unbinds).
    """

    number: int
    match: tuple[str, ...]
    services: str | None = None
    vfs: str | int | None = None
    vf_driver: str | None = None

    @property
    def where(self) -> str:
        """``[[pf]] #2`` for messages."""
        return f"[[pf]] #{self.number}"


def _suggest(word: str, known: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, known, n=1)
    return f"did you mean '{close[0]}'? " if close else ""


def _entry(number: int, raw: object, path: str) -> Entry:
    where = f"{path}: [[pf]] #{number}"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} is not a table", hint="write [[pf]] then key = value lines")
    for key in raw:
        if key not in KEYS:
            raise ConfigError(
                f"{where}: unknown key '{key}'",
                hint=f"{_suggest(key, KEYS)}the keys are {', '.join(KEYS)}",
            )
    match = raw.get("match")
    if isinstance(match, str):
        match = [match]
    if not isinstance(match, list) or not match or not all(isinstance(m, str) for m in match):
        raise ConfigError(
            f"{where}: 'match' is missing or not a string or list of strings",
            hint='e.g. match = "all", match = "gen4" or match = ["qat_dev0", "0000:70:00.0"]',
        )
    services = raw.get("services")
    if services is not None:
        if not isinstance(services, str):
            raise ConfigError(f"{where}: services must be a string", hint='e.g. "sym;asym"')
        try:
            cfg_services.parse(services)
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}", hint='e.g. services = "sym;asym"') from None
        services = services.strip()
    vfs = raw.get("vfs")
    if (
        vfs is not None
        and vfs != ALL_VFS
        and (isinstance(vfs, bool) or not isinstance(vfs, int) or vfs < 0)
    ):
        raise ConfigError(
            f'{where}: vfs = {vfs!r} is neither "all" nor a count',
            hint='QAT drivers enable every VF or none: write vfs = "all" or vfs = 0',
        )
    driver = raw.get("vf_driver")
    if driver is not None and (not isinstance(driver, str) or not driver.strip()):
        raise ConfigError(
            f"{where}: vf_driver must be a driver name",
            hint='e.g. vf_driver = "vfio-pci" (or "none" to leave the VFs unbound)',
        )
    return Entry(number, tuple(m.strip() for m in match), services, vfs, driver)


def parse(text: str, path: str = "<setup>") -> list[Entry]:
    """Read a set-up file's text.

    Args:
        text: the TOML text.
        path: its name, for messages.

    Returns:
        The entries, in file order.

    Raises:
        ConfigError: not TOML, a table other than ``[[pf]]``, an unknown key, a value of
            the wrong type or syntax. Nothing about the host is checked here.
    """
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not TOML: {exc}", hint="see docs/admin.md#setup") from None
    for key in doc:
        if key != "pf":
            raise ConfigError(
                f"{path}: unknown table or key '{key}'",
                hint=f"{_suggest(key, ('pf',))}a set-up file is a list of [[pf]] entries",
            )
    raw = doc.get("pf", [])
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"{path}: no [[pf]] entry", hint="see docs/admin.md#setup")
    return [_entry(n, item, path) for n, item in enumerate(raw, 1)]


def read(path: str | os.PathLike[str]) -> list[Entry]:
    """Read a set-up file.

    Raises:
        ConfigError: it cannot be read, or :func:`parse` refuses it.
    """
    name = os.fspath(path)
    try:
        with open(name, encoding="utf-8") as f:
            text = f.read(1 << 20)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {name}: {exc}", hint="check the path", path=name) from None
    return parse(text, name)
