"""Every command block of README.md runs exactly as printed.

The blocks are read from the README each time, never copied here. Each is one of:

* the opening ``make demo`` / ``make test`` block: CI runs both, so it is exempt;
* the ``python`` block of "As an application": ``test_readme_example.py`` runs it;
* any other ``python`` block: a test file (it defines ``test_...`` functions) runs under
  pytest with the installed plugin, in a directory of its own; a script runs through
  ``python -m fakedev.withhost``, on the plugin's default fake host;
* a block with a ``python -m vm`` line: it boots QEMU, so it runs alone (it must be
  self-contained) in a test marked ``vm``;
* every other block: shell lines, run in README order in one bash, as a reader following
  the README in one terminal would.

The environment is the one the README describes: the virtual env's ``bin`` first on
``PATH``, this directory as the working directory, a fresh scratch directory in
``QATDIR``, and no ``QATHW_*`` variable but those the blocks export. A block of any other
kind fails :func:`test_every_command_block_is_run_by_a_test`.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.demo.test_readme_example import readme_example
from vm.host import missing_reason

ROOT = Path(__file__).resolve().parents[2]
OPENING = "make demo\nmake test\n"
SHELLS = ("", "sh", "bash")


@dataclass(frozen=True)
class Block:
    """One fenced block: its language tag, text and first line in README.md."""

    lang: str
    text: str
    line: int

    @property
    def kind(self) -> str | None:
        """``exempt``, ``python`` (the application example), ``script`` (another python
        block: it runs on the plugin's default fake host), ``pytest`` (a test file, run with
        the installed plugin), ``vm``, ``shell``, or ``None`` for a block no test runs."""
        if self.lang == "" and self.text == OPENING:
            return "exempt"
        if self.lang == "python":
            if self.text == readme_example():
                return "python"
            return "pytest" if "def test_" in self.text else "script"
        if self.lang not in SHELLS:
            return None
        if any(line.startswith("python -m vm ") for line in self.text.splitlines()):
            return "vm"
        return "shell"


def readme_blocks() -> list[Block]:
    text = (ROOT / "README.md").read_text()
    return [
        Block(m["lang"], m["body"], text.count("\n", 0, m.start()) + 1)
        for m in re.finditer(r"^```(?P<lang>\S*)\n(?P<body>.*?)^```$", text, re.M | re.S)
    ]


def of_kind(kind: str) -> list[Block]:
    return [b for b in readme_blocks() if b.kind == kind]


def test_the_readme_opens_with_make_demo_and_make_test() -> None:
    assert (ROOT / "README.md").read_text().startswith(f"# qathw\n\n```\n{OPENING}```\n")


def test_every_command_block_is_run_by_a_test() -> None:
    blocks = readme_blocks()
    unknown = [f"README.md:{b.line} ({b.lang or 'no language'})" for b in blocks if not b.kind]
    assert not unknown, f"no test runs these blocks: {', '.join(unknown)}"
    kinds = [b.kind for b in blocks]
    assert kinds.count("exempt") == 1 and kinds.count("python") == 1
    assert "shell" in kinds and "vm" in kinds


@dataclass(frozen=True)
class Run:
    rc: int
    out: str
    err: str


@pytest.fixture
def qatdir() -> Iterator[Path]:
    """``QATDIR``: under /dev/shm like the demo's endpoints, removed afterwards."""
    d = Path(tempfile.mkdtemp(prefix="qathw-readme-", dir="/dev/shm"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


def run_in_bash(blocks: list[Block], qatdir: Path, timeout: float) -> Run:
    """The blocks' lines, as printed, in one bash that stops at the first failing line."""
    # The harness, not the README: stop on the first failure and say which line it was,
    # and end what the lines left in the background when the shell exits on a failure.
    script = "set -euo pipefail\n"
    script += "trap 'echo \"README line failed ($?): $BASH_COMMAND\" >&2' ERR\n"
    script += "trap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n"
    script += "".join(b.text for b in blocks)
    env = {k: v for k, v in os.environ.items() if not k.startswith("QATHW_")}
    venv_bin = str(Path(sys.executable).parent)
    env.update(
        PATH=f"{venv_bin}{os.pathsep}{env.get('PATH', '')}",
        VIRTUAL_ENV=str(Path(venv_bin).parent),
        QATDIR=str(qatdir),
    )
    env.pop("PYTHONPATH", None)  # what the README's shell has: the env's own packages
    proc = subprocess.Popen(
        ["bash", "-c", script],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        out, err = "", f"the README's lines did not finish in {timeout:.0f} s"
    finally:
        # The shell's own session: whatever of it is left (a device model) ends with it.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        if proc.returncode is None:
            proc.communicate(timeout=30)
    return Run(proc.returncode if proc.returncode is not None else -1, out, err)


def test_the_shell_blocks_run_in_order_in_one_shell(qatdir: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("the README's admin block has root actions (down, up, ...): run as root")
    done = run_in_bash(of_kind("shell"), qatdir, timeout=300)
    assert done.rc == 0, done.err
    out = done.out
    # What each part of the README says it does, seen in what it printed.
    assert "0000:6b:00.0  4xxx PF" in out
    assert "There is 34 QAT acceleration device(s) in the system:" in out
    assert "11 checks: 11 pass, 0 warn, 0 fail, 0 skipped" in out
    assert "0000:6b:00.0: down up -> down" in out and "0000:6b:00.0: up down -> up" in out
    assert "dry run: would change 1 of 2 PFs" in out and "done: changed 1 of 2 PFs" in out
    assert "0000:6b:00.0: restart up -> up" in out
    assert f"{qatdir}/etc/4xxx_dev0.conf (qat_dev0, 4xxx): valid\n" in out
    assert "[SSL]: 4 internal sections" in out
    assert "4 internal sections, 0 held, 4 free" in out
    assert "verified against cryptography: 1000 of 1000, all match" in out
    assert "sent restart to the backend of" in out


def readme_env() -> dict[str, str]:
    """What a reader's shell has: the env's own packages, no ``QATHW_*`` or pytest state."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("QATHW_", "PYTEST_")) and k != "PYTHONPATH"
    }
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.mark.parametrize("block", of_kind("script"), ids=lambda b: f"README.md:{b.line}")
def test_each_python_script_runs_on_the_default_fake_host(block: Block, tmp_path: Path) -> None:
    script = tmp_path / "readme_script.py"
    script.write_text(block.text)
    done = subprocess.run(
        [sys.executable, "-m", "fakedev.withhost", sys.executable, str(script)],
        cwd=tmp_path,
        env=readme_env(),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("block", of_kind("pytest"), ids=lambda b: f"README.md:{b.line}")
def test_each_test_file_passes_with_the_installed_plugin(block: Block, tmp_path: Path) -> None:
    (tmp_path / "test_from_readme.py").write_text(block.text)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_from_readme.py"],
        cwd=tmp_path,
        env=readme_env(),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"\b\d+ passed", done.stdout), done.stdout


@pytest.mark.vm
def test_the_qemu_block_runs_in_a_guest(qatdir: Path) -> None:
    reason = missing_reason()
    if reason:
        pytest.skip(reason)
    done = run_in_bash(of_kind("vm"), qatdir, timeout=1200)
    assert done.rc == 0, done.err
    assert re.search(r"0000:00:\S+\s+4xxxvf \(emulated\)", done.out), done.out
    assert re.search(r"\d+ passed", done.out), done.out
