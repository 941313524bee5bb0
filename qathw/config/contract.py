"""The application's side of a configuration: the section it starts, for how many processes.

An application names one user section when it starts (``icp_sal_userStart("SHIM")``,
:func:`qathw.user_start`), and each of its processes then holds an internal section of
its own until it exits (docs/hardware.md#sections-and-processes). Rule R21 checks that
contract against a set of devices: some file has the section, and the devices give at
least as many internal sections as the application runs processes — counted from the
same expansion ``qathw config expand`` shows, so ``LimitDevAccess``, the process bound
and files the driver refuses count as they do for the driver.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from qathw.config.devices import DeviceRef
from qathw.config.diagnostics import Diagnostic, Severity
from qathw.config.document import ConfigDocument
from qathw.config.expand import Expansion
from qathw.config.profiles import is_user_section
from qathw.config.values import kernel_ulong

#: The longest name ``/dev/qat_dev_processes`` takes (docs/hardware.md#sections-and-processes).
MAX_NAME_BYTES = 127
_FORM = re.compile(r"(?P<section>[^:]*)(?::(?P<processes>[^:]*))?")
_NOT_IN_A_NAME = re.compile(r"[\s\[\]#]")


@dataclass(frozen=True)
class Expectation:
    """What an application needs of the configuration.

    Attributes:
        section: the user section it starts (``SHIM``, ``SSL``).
        processes: how many of its processes hold the section at once (at least 1).
    """

    section: str
    processes: int = 1

    @classmethod
    def parse(cls, text: str) -> Expectation:
        """Read ``SECTION`` or ``SECTION:PROCESSES``, as ``--expect`` takes it (``SHIM:16``).

        Raises:
            ValueError: ``text`` is not of that form; the message says what is wrong.
        """
        form = _FORM.fullmatch(text)
        if form is None:
            raise ValueError("more than one ':'")
        section, processes = form["section"], form["processes"]
        if not section:
            raise ValueError("the section name is empty")
        if _NOT_IN_A_NAME.search(section):
            raise ValueError("a section name has no spaces, '[', ']' or '#'")
        if len(section.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES:
            raise ValueError(f"a section name has at most {MAX_NAME_BYTES} bytes")
        if processes is None:
            return cls(section)
        if not processes.isascii() or not processes.isdigit() or int(processes) < 1:
            raise ValueError(f"the process count {processes!r} is not a number from 1")
        return cls(section, int(processes))

    def __str__(self) -> str:
        return f"{self.section}:{self.processes}"


def internal_sections(expectation: Expectation, expansion: Expansion) -> int:
    """How many processes can hold the expected section at once: its internal sections."""
    return len(expansion.candidates(expectation.section))


def check_contract(
    expectations: Sequence[Expectation],
    devices: Sequence[tuple[DeviceRef, ConfigDocument]],
    expansion: Expansion,
) -> list[Diagnostic]:
    """R21: each expected section exists, with an internal section for every process.

    Args:
        expectations: what the application needs.
        devices: each device with its file, in accel-id order.
        expansion: the internal sections of the devices whose files have no errors.

    Returns:
        One error per expectation the devices do not meet.
    """
    out = []
    expanded = {d.device.accel_id for d in expansion.devices}
    for want in expectations:
        name, wanted = want.section, want.processes
        defined = [(dev, sec) for dev, doc in devices if (sec := doc.section(name)) is not None]
        if not defined:
            out.append(_missing(want, devices))
            continue
        got = internal_sections(want, expansion)
        if got >= wanted:
            continue
        first, sec = defined[0]
        refused = [dev for dev, _ in defined if dev.accel_id not in expanded]
        message = (
            f"[{name}] gives {got} internal section{'' if got == 1 else 's'}, fewer than the "
            f"{wanted} process{'' if wanted == 1 else 'es'} the application runs: from process "
            f"{got + 1} on, user_start('{name}') finds none free"
        )
        hint = _raise_hint(name, wanted, sec.get("LimitDevAccess"))
        if refused:
            message += "; not counted, as the driver refuses their files: " + ", ".join(
                f"{d.name} ({d.file_name})" for d in refused
            )
            hint = "fix the errors in those files, and " + hint
        out.append(
            Diagnostic(
                "R21",
                Severity.ERROR,
                message,
                hint,
                file=first.path,
                line=sec.line,
                column=sec.column,
            )
        )
    return out


def _missing(want: Expectation, devices: Sequence[tuple[DeviceRef, ConfigDocument]]) -> Diagnostic:
    name = want.section
    others = sorted(
        {
            s
            for dev, doc in devices
            for s in doc.sections
            if is_user_section(s, dev.profile) and not re.search(r"_INT_[0-9]+$", s)
        },
        key=lambda s: s.encode("utf-8", "surrogateescape"),
    )
    add = f"add a [{name}] section with NumProcesses = {want.processes} or more"
    hint = (
        f"{add}, or have the application start one the files have: "
        + ", ".join(f"[{s}]" for s in others)
        + " (QAT_Engine and QATzip read the name from QAT_SECTION_NAME)"
        if others
        else f"{add} to the file of each device the application should use"
    )
    return Diagnostic(
        "R21",
        Severity.ERROR,
        f"no file has a [{name}] section, which the application starts: user_start('{name}') "
        f"fails (the driver logs 'could not find {name} section in any config files')",
        hint,
    )


def _raise_hint(name: str, wanted: int, limit_dev_access: str | None) -> str:
    pinned = bool(kernel_ulong(limit_dev_access)) if limit_dev_access is not None else False
    if pinned:
        return (
            f"raise NumProcesses in [{name}]: with LimitDevAccess = 1 the devices' values add "
            f"up, and they must come to {wanted}"
        )
    return (
        f"raise NumProcesses in [{name}] to {wanted} on every device that has it: with "
        "LimitDevAccess = 0 the devices share the names, so the largest value counts, not the sum"
    )
