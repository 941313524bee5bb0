"""The demo's two emulated endpoints: files, device processes, and a fake sysfs tree.

Each endpoint is a PF-style emulated 4xxx (64 banks, no PF/VF mailbox), the kind several
processes may share: every process maps the file through the fake sysfs tree and
programs only the banks of its own instances. Each has its own device process
(``python -m fakedev serve``). The tree presents them as ivshmem functions 0000:00:10.0
and 0000:00:11.0, so discovery numbers them qat_dev0 and qat_dev1, matching
``4xxx_dev0.conf`` and ``4xxx_dev1.conf``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from fakedev import endpoint_file, sysfs
from fakedev.topologies import EmulatedSpec

ROOT = Path(__file__).resolve().parent.parent
SIZE = 64 << 20


@dataclass
class Endpoints:
    """The running endpoints; :meth:`stop` ends their device processes."""

    files: list[Path]
    bdfs: list[str]
    sysfs_root: Path
    processes: list[subprocess.Popen[str]] = field(default_factory=list)

    def stop(self) -> None:
        for proc in self.processes:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.processes:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def start(root: Path, count: int = 2) -> Endpoints:
    """Create ``count`` endpoints under ``root``, serve each, present them in a tree.

    Raises:
        RuntimeError: a device process did not start.
    """
    files = [root / f"qat{n}" for n in range(count)]
    bdfs = [f"0000:00:{0x10 + n:02x}.0" for n in range(count)]
    host = sysfs.build(root / "host", "empty")
    eps = Endpoints(files, bdfs, host.sysfs_root)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    try:
        for path, bdf in zip(files, bdfs, strict=True):
            endpoint_file.create(path, "4xxx", size=SIZE)
            proc = subprocess.Popen(
                [sys.executable, "-m", "fakedev", "serve", str(path)],
                stdout=subprocess.PIPE,
                text=True,
                env=env,
                cwd=ROOT,
            )
            eps.processes.append(proc)
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if "serving" not in line:
                raise RuntimeError(f"the device process for {path} did not start: {line!r}")
            host.add_emulated(EmulatedSpec(bdf, path))
    except BaseException:
        eps.stop()
        raise
    return eps
