"""Small configuration texts for tests, and a one-call check of a text."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from qathw.config import ConfigDocument, DeviceRef, FileReport, check

#: Real configuration files (../shared/qat-conf-corpus next to the repository), or the
#: directory named by $QATHW_CORPUS_DIR.
CORPUS = Path(
    os.environ.get("QATHW_CORPUS_DIR")
    or Path(__file__).resolve().parents[3] / "shared" / "qat-conf-corpus"
)
needs_corpus = pytest.mark.skipif(
    not CORPUS.is_dir(), reason=f"no corpus at {CORPUS}: set QATHW_CORPUS_DIR to the directory"
)


def corpus_files() -> list[Path]:
    """The corpus's configuration files (none when the corpus is absent)."""
    if not CORPUS.is_dir():
        return []
    return sorted(p for p in CORPUS.iterdir() if p.name != "PROVENANCE.tsv")


STATS = "\n".join(
    f"stats{k} = 1"
    for k in ("General", "Dh", "Drbg", "Dsa", "Ecc", "KeyGen", "Dc", "Ln", "Prime", "Rsa", "Sym")
)


def general(services: str = "asym;sym", extra: str = "") -> str:
    """A valid [GENERAL] and an empty [KERNEL]."""
    return (
        f"[GENERAL]\nServicesEnabled = {services}\nConfigVersion = 2\n{STATS}\n{extra}\n"
        "[KERNEL]\nNumberCyInstances = 0\nNumberDcInstances = 0\n"
    )


def user(
    name: str = "SSL",
    *,
    processes: int | str = 1,
    lda: int | str = 0,
    cy: int = 1,
    dc: int = 0,
    polled: int = 1,
    cores: str = "0",
    extra: str = "",
) -> str:
    """A user section with ``cy`` Cy and ``dc`` Dc instances, all alike."""
    lines = [
        f"[{name}]",
        f"NumberCyInstances = {cy}",
        f"NumberDcInstances = {dc}",
        f"NumProcesses = {processes}",
        f"LimitDevAccess = {lda}",
    ]
    for kind, count in (("Cy", cy), ("Dc", dc)):
        for n in range(count):
            lines += [
                f'{kind}{n}Name = "{name}{kind}{n}"',
                f"{kind}{n}IsPolled = {polled}",
                f"{kind}{n}CoreAffinity = {cores}",
            ]
    return "\n".join(lines) + "\n" + extra


def report_of(text: str | bytes, device_type: str = "4xxx", **kw: object) -> FileReport:
    """Check one text as ``<type>_dev0.conf`` of device 0."""
    doc = ConfigDocument.parse(text, f"{device_type}_dev0.conf")
    dev = DeviceRef(0, device_type, 0, f"{device_type}_dev0.conf")
    return check([(dev, doc)], **kw).files[0]  # type: ignore[arg-type]


def rules(report: FileReport, severity: str | None = None) -> set[str]:
    """The rule ids found (of one severity, if given)."""
    return {d.rule for d in report.diagnostics if severity is None or d.severity == severity}
