"""A PF-style endpoint (``make demo``'s kind: a 4xxx, no PF/VF mailbox) restarted under
load recovers like a VF: the device counts the restart in the control page and comes back
as a new function; the frontend's watch sees the count move, reopens, reprograms, relinks
and replays. No request times out and the hint never asks whether a running backend runs.
Real processes: ``python -m fakedev serve`` and ``python -m fakedev inject``.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

from fakedev import endpoint_file
from qathw.endpoint import Endpoint
from tests.frontend_life.backends import BDF, ROOT, SERVICES, Served, build_host, instances
from tests.frontend_life.streams import stream
from tests.service import rig

FAULTS = 4


def _restarted(inject: subprocess.Popen[bytes], ep: Endpoint, count: int) -> Callable[[], bool]:
    """Whether the injection is done and the frontend has reopened ``count`` times."""
    return lambda: inject.poll() is not None and ep.watch.reopened == count


def test_a_pf_restarted_under_load_goes_on_without_a_timeout() -> None:
    host = build_host("4xxx", 64 << 20)
    path = host.files[BDF]
    backend = Served(path, SERVICES["4xxx"])
    try:
        with instances(host, timeout=10.0) as insts:
            cy, ep = insts.cy[0], insts.endpoints[BDF]
            assert ep.mailbox is None
            for fault in range(1, FAULTS + 1):
                inject = subprocess.Popen(
                    [sys.executable, "-m", "fakedev", "inject", str(path), "restart"],
                    cwd=ROOT,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                stream(cy, _restarted(inject, ep, fault))
                assert inject.returncode == 0
                assert endpoint_file.read_info(path).device_resets == fault
            assert stream(cy, at_least=64) == 64  # and on after the last
    finally:
        backend.stop()
        rig.remove(host)
