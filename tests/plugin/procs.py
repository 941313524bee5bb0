"""Real process checks, and pytest run on a project of its own, as its CI would run it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def is_device_process(pid: int) -> bool:
    """``pid`` is a live ``python -m fakedev serve`` (a zombie or another program is not)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"fakedev" in argv and b"serve" in argv


def device_processes_under(root: Path) -> list[int]:
    """Pids of the device processes serving a file under ``root``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"serve" in argv and any(a.startswith(str(root).encode() + b"/") for a in argv):
            found.append(int(entry.name))
    return found


def run_pytest(project: Path, *args: str, seen: Path) -> subprocess.CompletedProcess[str]:
    """``python -m pytest ARGS`` in ``project``: this interpreter and its installed
    packages, none of this repository's settings, paths or conftest. Its tests write
    what they saw into ``seen`` (:data:`RECORD`)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k != "PYTHONPATH" and not k.startswith(("PYTEST_", "QATHW_"))
    }
    env["HOSTS_SEEN"] = str(seen)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--strict-markers", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


#: What the projects' tests write for the checks here: their host, one JSON line per test.
RECORD = '''
import json, os


def record(host, name):
    """One line per test: its worker, its host's directory and device pids."""
    with open(os.environ["HOSTS_SEEN"], "a") as f:
        line = {"test": name, "worker": os.environ.get("PYTEST_XDIST_WORKER", "main"),
                "root": str(host.root), "pids": list(host.pids)}
        f.write(json.dumps(line) + "\\n")
'''


def hosts_seen(path: Path) -> list[dict[str, object]]:
    """The lines :data:`RECORD` wrote."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]
