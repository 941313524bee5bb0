"""Diagnostics as data, and the catalogue of rules they come from.

Every finding about a configuration file is a :class:`Diagnostic`: which rule, how bad,
what was found, what to do about it, and where (file, line, column when known). Rule ids
follow docs/hardware.md#validator-rules (``R1`` .. ``R21``); lexical rules
of our own parser are ``P1`` .. and further checks the catalogue does not name are ``V1`` ..

Severity means what the driver does with the file:

* ``error``: ``adf_ctl`` or the kernel refuses the file, or the setting can never work;
* ``warning``: accepted, but very likely not what the author meant (``--strict`` makes
  every warning an error, as ``-Werror`` does);
* ``info``: worth knowing, changes nothing.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, replace


class Severity(enum.StrEnum):
    """How bad a finding is."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True)
class Rule:
    """One entry of the rule catalogue.

    Attributes:
        id: ``R1`` .. ``R21``, ``P1`` .., ``V1`` ..
        title: what the rule checks, in a few words.
        basis: where the rule comes from: ``docs/hardware.md#<anchor>`` citations, comma
            separated (``—`` for a rule of our own parser).
    """

    id: str
    title: str
    basis: str


# Where the rules come from: sections of docs/hardware.md.
_FILES = "docs/hardware.md#config-files"
_KEYS = "docs/hardware.md#config-keys"
_SECTIONS = "docs/hardware.md#sections-and-processes"
_CAPACITY = "docs/hardware.md#ring-capacity"
_RULES = "docs/hardware.md#validator-rules"
_FILES_SECTIONS = f"{_FILES}, {_SECTIONS}"

RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        Rule("R1", "[GENERAL] present with ConfigVersion = 2", _FILES),
        Rule("R2", "ServicesEnabled is a string this generation accepts", _CAPACITY),
        Rule("R3", "instance counts NumberCyInstances / NumberDcInstances", _FILES),
        Rule("R4", "Name, IsPolled, CoreAffinity for every instance index", _FILES),
        Rule("R5", "IsPolled is 1 or 2 in user sections, 0 or 1 in kernel ones", _FILES),
        Rule("R6", "CoreAffinity lists and ranges", _FILES),
        Rule("R7", "NumProcesses and LimitDevAccess are numbers", _FILES),
        Rule("R8", "the instances fit the device's rings", _CAPACITY),
        Rule("R9", "NumProcesses within num_banks x rings_per_bank / 2", _SECTIONS),
        Rule("R10", "the same user section agrees across devices", _SECTIONS),
        Rule("R11", "128-byte limits on names, keys, values, derived names", _FILES_SECTIONS),
        Rule("R12", "lexical traps: duplicates, keys before a section, tabs, quotes", _FILES),
        Rule("R13", "instances of a service that is not enabled", _RULES),
        Rule("R14", "concurrent-request ring sizes are powers of two, 64..65536", _FILES),
        Rule("R15", "statistics keys present when statsGeneral is on", _KEYS),
        Rule("R16", "c4xxx accel units per enabled service", _KEYS),
        Rule("R17", "HeartbeatTimer is at least 200 ms", _KEYS),
        Rule("R18", "keys the driver writes itself appear in a user file", _KEYS),
        Rule("R19", "a section that is not special on this generation", _FILES),
        Rule("R20", "keys deprecated by QAT.L.4.2x", _KEYS),
        Rule("R21", "application contract (--expect): section name, process count", _SECTIONS),
        Rule("P1", "section header without ']' or with an empty name", _FILES),
        Rule("P2", "key or value empty after comments and spaces are removed", _FILES),
        Rule("P3", "line without '=' outside a header", _FILES),
        Rule("P4", "'=' found after a '#'", _FILES),
        Rule("P5", "bytes that are not UTF-8 text", "—"),
        Rule("V1", "a user section named like an internal (derived) section", _SECTIONS),
        Rule("V2", "a key the driver does not read", f"{_FILES}, {_KEYS}"),
        Rule("V3", "not an out-of-tree driver configuration file", _FILES),
        Rule("V4", "device type unknown: generation rules skipped", _FILES),
        Rule("V5", "a user section without instances", _FILES),
        Rule("V6", "a number the driver reads in an unexpected base", _FILES),
    )
}


@dataclass(frozen=True)
class Diagnostic:
    """One finding, with where it is and what to do about it.

    Attributes:
        rule: the rule id (a key of :data:`RULES`).
        severity: error, warning or info.
        message: what was found.
        hint: what to do about it, or ``None``.
        file: the file, when the finding is about one.
        line / column: 1-based position, when known.
        strict_error: a warning that is an error elsewhere too (the Programmer's Guide
            spelling ``NumCyInstances``); ``--strict`` makes every warning an error.
    """

    rule: str
    severity: Severity
    message: str
    hint: str | None = None
    file: str | None = None
    line: int | None = None
    column: int | None = None
    strict_error: bool = False

    @property
    def location(self) -> str:
        """``file:line:column`` with the parts that are known."""
        parts = [self.file or "<config>"]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)

    def format(self) -> str:
        """The compiler-style text form: location, severity, rule, message, hint."""
        text = f"{self.location}: {self.severity.value} {self.rule}: {self.message}"
        if self.hint:
            text += f"\n    hint: {self.hint}"
        return text

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready mapping."""
        return {
            "rule": self.rule,
            "severity": self.severity.value,
            "message": self.message,
            "hint": self.hint,
            "file": self.file,
            "line": self.line,
            "column": self.column,
        }


def strictened(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    """The diagnostics as ``--strict`` sees them: every warning becomes an error."""
    return [
        replace(d, severity=Severity.ERROR) if d.severity is Severity.WARNING else d
        for d in diagnostics
    ]


def has_errors(diagnostics: Iterable[Diagnostic]) -> bool:
    """Whether any diagnostic is an error."""
    return any(d.severity is Severity.ERROR for d in diagnostics)


def count(diagnostics: Iterable[Diagnostic]) -> dict[Severity, int]:
    """How many diagnostics of each severity."""
    counts = dict.fromkeys(Severity, 0)
    for d in diagnostics:
        counts[d.severity] += 1
    return counts
