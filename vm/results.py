"""What commands in a guest return: exit code and output, and pytest's per-test outcomes."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

from vm.errors import GuestCommandError


@dataclass(frozen=True)
class Result:
    """What a command in the guest did."""

    command: str
    rc: int
    stdout: str
    stderr: str
    seconds: float
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.rc == 0 and not self.timed_out

    def check(self) -> Result:
        """This result, or :class:`GuestCommandError` with the output if it failed."""
        if not self.ok:
            what = "timed out" if self.timed_out else f"exited {self.rc}"
            raise GuestCommandError(
                f"guest command {self.command!r} {what}\n--- stdout ---\n{self.stdout[-4000:]}"
                f"\n--- stderr ---\n{self.stderr[-4000:]}"
            )
        return self

    def json(self) -> Any:
        """The last line of stdout, parsed as JSON (helpers print one result line)."""
        lines = [ln for ln in self.stdout.splitlines() if ln.strip()]
        if not lines:
            raise GuestCommandError(f"{self.command!r} printed nothing; stderr:\n{self.stderr}")
        return json.loads(lines[-1])


@dataclass(frozen=True)
class Case:
    """One test's outcome in a guest pytest run."""

    name: str
    classname: str
    outcome: str  # passed, failed, error, skipped
    message: str = ""
    seconds: float = 0.0


@dataclass(frozen=True)
class PytestRun:
    """A pytest run in the guest: the process result and each test's outcome by name."""

    result: Result
    cases: dict[str, Case] = field(default_factory=dict)


def parse_junit(text: str) -> dict[str, Case]:
    """Each test case of a JUnit XML report, by name."""
    cases: dict[str, Case] = {}
    if not text.strip():
        return cases
    root = ET.fromstring(text)
    for tc in root.iter("testcase"):
        name = tc.get("name", "")
        outcome, message = "passed", ""
        for child in tc:
            if child.tag in ("failure", "error", "skipped"):
                outcome = {"failure": "failed"}.get(child.tag, child.tag)
                message = (child.get("message") or "") + "\n" + (child.text or "")
                break
        cases[name] = Case(
            name=name,
            classname=tc.get("classname", ""),
            outcome=outcome,
            message=message.strip(),
            seconds=float(tc.get("time") or 0.0),
        )
    return cases
