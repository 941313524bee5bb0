"""requirements.lock is what `make` installs: it must match pyproject.toml's ranges.

A range edited without `make lock` would let the lock drift from what the project
declares; these tests catch that before CI installs a lock nobody regenerated.
"""

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]


def _locked() -> dict[str, list[tuple[str, str]]]:
    """Name → [(version, marker)] for every pin in the lock (a universal lock may pin a
    package twice, once per environment marker)."""
    pins: dict[str, list[tuple[str, str]]] = {}
    text = (ROOT / "requirements.lock").read_text()
    for name, version, marker in re.findall(
        r"^([A-Za-z0-9_.-]+)==([^\s;\\]+)\s*(?:;\s*([^\\\n]+?))?\s*\\?$", text, re.M
    ):
        pins.setdefault(canonicalize_name(name), []).append((version, marker.strip()))
    return pins


def _declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        specs.extend(extra)
    build = (ROOT / "requirements" / "build.in").read_text().splitlines()
    specs.extend(line for line in build if line.strip() and not line.startswith("#"))
    return [Requirement(s) for s in specs]


@pytest.mark.parametrize("req", _declared(), ids=str)
def test_every_declared_dependency_is_locked_within_its_range(req: Requirement) -> None:
    pins = _locked().get(canonicalize_name(req.name))
    assert pins, f"{req.name} is declared but not in requirements.lock: run 'make lock'"
    for version, marker in pins:
        assert req.specifier.contains(version, prereleases=True), (
            f"requirements.lock pins {req.name}=={version} ({marker or 'all platforms'}), "
            f"outside the declared '{req}': run 'make lock'"
        )


def test_every_lock_pin_carries_a_hash() -> None:
    text = (ROOT / "requirements.lock").read_text()
    pins = re.split(r"^(?=[A-Za-z0-9_.-]+==)", text, flags=re.M)[1:]
    unhashed = [pin.split("==")[0] for pin in pins if "--hash=sha256:" not in pin]
    assert not unhashed, f"pins without hashes: {unhashed}: run 'make lock'"
