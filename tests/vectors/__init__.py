"""Known-answer vectors as data: NIST CAVP subsets and RFC test cases (see PROVENANCE).

One loader reads every file here: ``[Name = value]`` section headers (``[ENCRYPT]`` /
``[DECRYPT]`` set ``direction``), ``Name = value`` fields, records separated by blank lines,
``#`` comments, and a bare ``FAIL`` line marking a record whose tag must not verify.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).parent


@dataclass(frozen=True)
class Vector:
    """One record: its fields, the section parameters in force, and where it came from."""

    fields: dict[str, str]
    source: str

    def __getitem__(self, name: str) -> str:
        return self.fields[name]

    def get(self, name: str, default: str | None = None) -> str | None:
        return self.fields.get(name, default)

    def hex(self, name: str) -> bytes:
        """A hex field as bytes (empty when the field is blank)."""
        return bytes.fromhex(self.fields[name])

    @property
    def fail(self) -> bool:
        return "FAIL" in self.fields

    def __repr__(self) -> str:  # the pytest id
        count = self.fields.get(
            "COUNT", self.fields.get("Count", self.fields.get("Test Case", "?"))
        )
        return f"{self.source}#{self.fields.get('direction', '')}{count}"


def load(relative: str) -> list[Vector]:
    """Every record of ``tests/vectors/<relative>``."""
    path = HERE / relative
    section: dict[str, str] = {}
    out: list[Vector] = []
    record: dict[str, str] = {}
    for raw in [*path.read_text().splitlines(), ""]:
        line = raw.strip()
        if line.startswith("#"):
            continue
        if not line or line.startswith("["):
            if record:
                out.append(Vector({**section, **record}, relative))
                record = {}
            if line.startswith("["):
                body = line.strip("[]")
                if "=" in body:
                    key, value = body.split("=", 1)
                    section[key.strip()] = value.strip()
                else:
                    section = {"direction": body}
            continue
        if "=" in line:
            key, value = line.split("=", 1)
            record[key.strip()] = value.strip()
        else:
            record[line] = ""
    return out
