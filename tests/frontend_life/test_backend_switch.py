"""A planned backend switch, then a device restart under the new backend.

The frontend finds the new backend's epoch (nothing else tells), reopens and relinks; the
new backend took over the PF agent's memory of the VF (its INIT), so a restart it injects
reaches the VF and the frontend follows it as under the first backend. Real processes:
``python -m fakedev serve``, stopped with SIGTERM, and ``python -m fakedev inject``.
"""

from __future__ import annotations

import subprocess
import sys

from fakedev import endpoint_file
from qathw.emulated import XenbusState
from tests.frontend_life.backends import BDF, ROOT, SERVICES, Served, build_host, instances
from tests.frontend_life.streams import stream
from tests.service import rig


def _inject(path: object, fault: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "fakedev", "inject", str(path), fault],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_a_restart_after_a_backend_switch_completes() -> None:
    host = build_host("4xxxvf", 16 << 20)
    path = host.files[BDF]
    backend = Served(path, SERVICES["4xxxvf"])
    try:
        with instances(host, timeout=10.0) as insts:
            cy, ep = insts.cy[0], insts.endpoints[BDF]
            assert stream(cy, at_least=64) == 64  # under the first backend
            backend.stop()  # planned: Closing, then Closed
            backend = Served(path, SERVICES["4xxxvf"])
            stream(cy, lambda: ep.watch.reopened == 1, at_least=64)  # found, relinked
            info = endpoint_file.read_info(path)
            assert info.frontend_epoch == info.backend_epoch
            assert info.backend_state is XenbusState.CONNECTED
            fault = _inject(path, "restart")
            stream(cy, lambda: fault.poll() is not None and ep.watch.reopened == 2)
            assert fault.returncode == 0
            assert stream(cy, at_least=64) == 64  # and on after the restart
            assert ep.watch.reopened == 2
    finally:
        backend.stop()
        rig.remove(host)
