"""A host with a live fake device, for the exporter and telemetry tests.

One emulated 4xxx endpoint served by ``python -m fakedev serve`` in its own process,
presented at 0000:00:10.0 in a fake sysfs tree (``empty`` topology, or another one's PFs
beside it), with the seed's configuration files. ``qathw`` runs as its own process on it,
as an operator would run it; requests are sent by ``qathw sample cipher``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from demo.seed import write_seed_configs
from fakedev import endpoint_file, sysfs
from fakedev.topologies import EmulatedSpec

ROOT = Path(__file__).resolve().parents[2]
BDF = "0000:00:10.0"
SHM = Path("/dev/shm") if os.access("/dev/shm", os.W_OK) else None


@dataclass
class ServedHost:
    """The host: its directories, the environment qathw needs there, the device's pid."""

    root: Path
    env: dict[str, str]
    fake: sysfs.FakeHost
    device_pid: int


def qathw(
    *args: str, env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m qathw ARGS`` as its own process with ``env`` added."""
    return subprocess.run(
        [sys.executable, "-m", "qathw", *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def send_requests(host: ServedHost, count: int) -> None:
    """Have ``qathw sample cipher`` send ``count`` AES-CBC requests to the endpoint."""
    done = qathw("sample", "cipher", "--alg", "aes-128-cbc", "-n", str(count), env=host.env)
    assert done.returncode == 0, done.stderr


@contextmanager
def served_host(topology: str = "empty") -> Iterator[ServedHost]:
    """Create, serve and present one endpoint; end its device process on every path."""
    root = Path(
        os.environ.get("TMPDIR", "/tmp") if SHM is None else SHM,
        f"qathw-exp-{uuid.uuid4().hex[:8]}",
    )
    root.mkdir()
    proc: subprocess.Popen[str] | None = None
    try:
        write_seed_configs(root / "etc")
        endpoint = root / "qat0"
        endpoint_file.create(endpoint, "4xxx", size=16 << 20)
        proc = subprocess.Popen(
            [sys.executable, "-m", "fakedev", "serve", str(endpoint)],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "serving" in line, line
        fake = sysfs.build(root / "host", topology)
        fake.add_emulated(EmulatedSpec(BDF, endpoint))
        env = {
            "QATHW_CONFIG_DIR": str(root / "etc"),
            "QATHW_RUNTIME_DIR": str(root / "run"),
            "QATHW_SYSFS_ROOT": str(fake.sysfs_root),
        }
        yield ServedHost(root, env, fake, proc.pid)
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        subprocess.run(["rm", "-rf", str(root)], check=False)
