"""What a packager and an operator see: one version, the licence, metadata, the wheel."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import qathw
from tests.fakedev_sysfs.helpers import run_cli

ROOT = Path(__file__).resolve().parents[2]


def pyproject() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_version_comes_from_one_place() -> None:
    project = pyproject()["project"]
    assert isinstance(project, dict)
    assert "version" not in project and project["dynamic"] == ["version"]
    assert importlib.metadata.version("qathw") == qathw.__version__


def test_dash_dash_version_prints_it() -> None:
    r = run_cli(None, "--version")
    assert r.rc == 0 and r.out == f"qathw {qathw.__version__}\n"


def test_the_license_file_is_the_bsd_3_clause_pyproject_declares() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("BSD 3-Clause License\n\nCopyright (c) 2026, the qathw authors\n")
    assert "Neither the name of the copyright holder" in text
    project = pyproject()["project"]
    assert isinstance(project, dict)
    assert project["license"] == {"text": "BSD-3-Clause"}
    assert "License :: OSI Approved :: BSD License" in project["classifiers"]


def test_the_wheel_carries_qathw_fakedev_and_vm(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("qathw-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for package in ("qathw", "fakedev", "vm"):
        assert f"{package}/__init__.py" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") or n.endswith("/LICENSE") for n in names)
