"""``qathw completion bash|zsh``: scripts generated from the argparse tree, which a real
shell loads and completes with."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakedev_sysfs.helpers import run_cli

ROOT = Path(__file__).resolve().parents[2]


def script(shell: str) -> str:
    r = subprocess.run(
        [sys.executable, "-m", "qathw", "completion", shell],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return r.stdout


def bash_complete(tmp_path: Path, words: list[str]) -> list[str]:
    """Load the script in bash and ask it to complete ``words`` (the last one partial)."""
    path = tmp_path / "qathw.bash"
    path.write_text(script("bash"))
    line = " ".join(words)
    program = (
        f"source {path}\n"
        f"COMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; COMP_LINE='{line}'; "
        f"COMP_POINT={len(line)}\n"
        "_shtab_qathw\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    bash = shutil.which("bash")
    assert bash is not None
    r = subprocess.run([bash, "-c", program], capture_output=True, text=True, check=True)
    return sorted(r.stdout.split())


def test_bash_completes_a_command_name(tmp_path: Path) -> None:
    assert bash_complete(tmp_path, ["qathw", "se"]) == ["sections", "services", "setup"]


def test_bash_completes_an_option_of_a_new_command(tmp_path: Path) -> None:
    assert "--dry-run" in bash_complete(tmp_path, ["qathw", "setup", "--d"])


def test_zsh_script_is_a_compdef_for_qathw() -> None:
    text = script("zsh")
    assert text.startswith("#compdef qathw")
    assert "setup" in text and "--all-vfs" in text
    zsh = shutil.which("zsh")
    if zsh is None:
        pytest.skip("zsh is not installed: the script's syntax is not checked")
    subprocess.run([zsh, "-n", "-c", text], check=True)


def test_an_unknown_shell_is_a_usage_error() -> None:
    assert run_cli(None, "completion", "fish").rc == 2
