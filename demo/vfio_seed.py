"""The seed scenario inside a guest, through real VFIO (``python -m demo.vfio_seed``).

Run as root in a guest whose two ivshmem functions carry emulated 4xxx endpoints served
on the host (``python -m demo --vfio`` boots one; ``tests/vm/test_seed_through_vfio.py``
too). Unlike ``python -m demo`` there is no fake sysfs tree: discovery reads the guest's
real PCI bus, both functions are bound to ``vfio-pci``, and since VFIO lets one process
open a function at a time, the nine section holders reach the endpoints through the
section broker, which ``user_start`` starts on demand and which exits after its last
lease.

The steps are the demo's (its workers, traffic and checks are reused): nine holders, a
ninth SSL refused, ``kill -9`` and re-take, verified traffic; then every holder stops and
the broker must go. ``--result FILE`` writes what happened as JSON for the host.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from demo.__main__ import describe, ready, run_traffic, say, show_holders, show_traffic, step
from demo.seed import write_seed_configs
from demo.traffic import make_workload
from demo.workers import Worker, spawn
from qathw import admin
from qathw.broker import client
from qathw.discovery import discover
from qathw.paths import ENV_CONFIG_DIR, ENV_RUNTIME_DIR, HostRoot

TRAFFIC_SECONDS = 1.0
BROKER_EXIT_WAIT = 20.0  # seconds the broker may take to notice its last lease ended
VICTIM = "SSL_DEV0_INT_1"
AHEAD_WHY = "--ahead: as a unit file would, instead of the first user_start starting it"


def bind_endpoints() -> list[str]:
    """Bind every emulated endpoint of the guest to vfio-pci; their BDFs, in accel order."""
    subprocess.run(["modprobe", "vfio-pci"], check=True)
    bdfs = [str(fn.bdf) for fn in discover(HostRoot()).emulated]
    for bdf in bdfs:
        admin.bind(HostRoot(), bdf, "vfio-pci")
    return [str(fn.bdf) for fn in discover(HostRoot()).accel_devices]


def states() -> dict[str, str | None]:
    """Each accel device's state as ``user_start`` sees it (discovery)."""
    return {str(fn.bdf): fn.state for fn in discover(HostRoot()).accel_devices}


def wait_up(timeout: float = 60.0) -> dict[str, str | None]:
    """Wait until every endpoint is up (its backend connected); the states last seen."""
    deadline = time.monotonic() + timeout
    seen = states()
    while any(s != "up" for s in seen.values()) and time.monotonic() < deadline:
        time.sleep(0.2)
        seen = states()
    return seen


def broker_status() -> dict[str, Any] | None:
    """What ``qathw sections --json`` shows as ``broker``: the running broker, its leases."""
    found = client.status(runtime_dir=os.environ[ENV_RUNTIME_DIR])
    return found.to_dict() if found is not None else None


def start_broker(linger: float | None = None) -> int:
    """Start the section broker ahead of the holders (``qathw broker``, detached); its pid.

    Only with ``--ahead``: by default the first ``user_start`` that needs one starts it.
    """
    runtime = Path(os.environ[ENV_RUNTIME_DIR])
    runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "qathw", "broker", "--runtime-dir", str(runtime)]
    argv += ["--linger", f"{linger:g}"] if linger is not None else []
    said = subprocess.run(argv, check=True, capture_output=True, text=True, timeout=600).stdout
    # "section broker started: pid N, SOCKET" once the socket listens; no status probe
    # here: the broker would count its connection as the first lease ending.
    return int(said.split("pid ", 1)[1].split(",", 1)[0])


def broker_pids() -> list[int]:
    """Processes of the guest running the section broker (from their command lines)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        # qathw.broker.client.broker_command, or 'qathw broker' run by hand
        if argv[1:3] == [b"-m", b"qathw.broker"] or argv[1:4] == [b"-m", b"qathw", b"broker"]:
            found.append(int(entry.name))
    return sorted(found)


def wait_broker_gone(timeout: float) -> tuple[list[int], float]:
    """Wait until no broker process is left; the ones still there, and the time taken."""
    start = time.monotonic()
    left = broker_pids()
    while left and time.monotonic() - start < timeout:
        time.sleep(0.1)
        left = broker_pids()
    return left, time.monotonic() - start


def scenario(workers: list[Worker], *, ahead: bool) -> dict[str, Any]:
    """The steps, printed as they go; what happened, for :func:`main`'s result file."""
    out: dict[str, Any] = {}
    step(1, "Two emulated 4xxx endpoints on vfio-pci (the guest's own PCI bus)")
    out["endpoints"] = bind_endpoints()
    for n, bdf in enumerate(out["endpoints"]):
        say(f"qat_dev{n} = {bdf}, bound to vfio-pci", 2)
    files = write_seed_configs(Path(os.environ[ENV_CONFIG_DIR]))
    say(f"seed configuration: {', '.join(f.name for f in files)}", 2)

    if ahead:
        start = time.monotonic()
        pid = start_broker()
        say(f"section broker started ahead: pid {pid} ({time.monotonic() - start:.0f} s)", 2)
        say(f"({AHEAD_WHY})", 2)

    traffic = make_workload(TRAFFIC_SECONDS)
    step(2, "Nine processes at once: 8 x user_start('SSL'), 1 x user_start('IPSec')")
    out["states_before"] = wait_up()
    say(f"device states: {out['states_before']}", 2)
    start = time.monotonic()
    # All nine together: the first that finds no broker starts one (the spawn lock makes
    # the others wait for it instead of starting their own), everyone borrows from it.
    workers.extend(spawn("SSL", traffic) for _ in range(8))
    workers.append(spawn("IPSec", traffic))
    got = [w.wait_started(timeout=300) for w in workers]
    out["started"] = [asdict(g) for g in got]
    for g in sorted(got, key=lambda g: g.section or ""):
        what = describe(g) if g.error is None else f"error: {g.error}"
        say(f"{g.pid:>7}  {g.asked:<6} {g.section or '':<15} {what}", 2)
    opened = [ready(w) for w in workers if w.wait_started().error is None]
    out["open_errors"] = [r.error for r in opened if r is not None]
    # Only a worker whose instances opened runs traffic; the others wait for "stop".
    failed = {r.pid for r in opened if r is not None} | {g.pid for g in got if g.error}
    say(f"all up and opened in {time.monotonic() - start:.1f} s", 2)
    for err in out["open_errors"]:
        say(f"opening instances failed: {err}", 2)

    step(3, "Who holds what, and the broker lending the devices (qathw sections)")
    show_holders(Path(os.environ[ENV_CONFIG_DIR]), Path(os.environ[ENV_RUNTIME_DIR]), workers)
    out["held"] = {"broker": broker_status()}
    out["broker_pids_held"] = broker_pids()
    say(f"broker processes: {out['broker_pids_held']}", 2)
    # The kernel now refuses this process's sysfs map of the lent BARs; discovery asks the
    # broker for the control pages instead, so the numbering must not change.
    out["numbering_held"] = [str(fn.bdf) for fn in discover(HostRoot()).accel_devices]
    say(f"discovery while they are lent: qat_dev0..1 = {out['numbering_held']}", 2)

    step(4, "A ninth SSL process")
    ninth = spawn("SSL")
    try:
        refused = ninth.wait_started(timeout=120)
    finally:
        ninth.stop()
    out["ninth"] = asdict(refused)
    say(f"pid {refused.pid}: user_start('SSL') -> {refused.section or refused.error}", 2)

    step(5, "kill -9 one holder; the next SSL process gets its section")
    victim = next(w for w in workers if w.wait_started().section == VICTIM)
    os.kill(victim.pid, signal.SIGKILL)
    victim.process.join()
    killed = time.monotonic()
    workers.remove(victim)
    replacement = spawn("SSL", traffic)
    workers.append(replacement)
    again = replacement.wait_started(timeout=120)
    took = time.monotonic() - killed
    out["retake"] = {**asdict(again), "victim": victim.pid, "seconds_after_kill": took}
    say(
        f"killed pid {victim.pid} ({VICTIM}); pid {again.pid} -> "
        f"{again.section or again.error} {took * 1000:.0f} ms after the kill (fork included; "
        f"user_start itself {again.seconds * 1000:.0f} ms)",
        2,
    )
    replaced = ready(replacement)
    out["retake"]["open_error"] = replaced.error if replaced is not None else None
    if replaced is not None:
        failed.add(replaced.pid)
    out["after_kill"] = {"broker": broker_status()}

    step(6, "Traffic: every process runs verified requests on its instances")
    reports = run_traffic([w for w in workers if w.pid not in failed])
    out["reports"] = [asdict(r) for r in reports]
    show_traffic(reports)

    step(7, "Every holder stops; the broker exits after its last lease")
    for w in workers:
        w.stop()
    left, waited = wait_broker_gone(BROKER_EXIT_WAIT)
    out["broker_pids_after"] = left
    out["broker_exit_seconds"] = waited
    say(f"broker processes left: {left or 'none'} (after {waited:.1f} s)", 2)
    for pid in left:  # recorded as a failure above; ended so the guest stays usable
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo.vfio_seed", description=__doc__)
    parser.add_argument("--result", metavar="FILE", help="write what happened here, as JSON")
    parser.add_argument(
        "--ahead",
        action="store_true",
        help="start the broker ahead with 'qathw broker' (default: the first user_start "
        "that needs it starts it)",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="qathw-vfio-demo-") as tmp:
        os.environ[ENV_CONFIG_DIR] = str(Path(tmp) / "etc")
        os.environ[ENV_RUNTIME_DIR] = str(Path(tmp) / "run")
        workers: list[Worker] = []
        try:
            out = scenario(workers, ahead=args.ahead)
        finally:
            for w in workers:  # on every path: a worker that will not stop is killed
                w.stop()
                if w.process.is_alive():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(w.pid, signal.SIGKILL)
                    w.process.join()
    if args.result:
        Path(args.result).write_text(json.dumps(out))
    return 0 if succeeded(out) else 1


def succeeded(out: dict[str, Any]) -> bool:
    """Everything the seed asks for happened."""
    reports = out["reports"]
    return (
        all(s["error"] is None for s in out["started"])
        and not out["open_errors"]
        and out["ninth"]["section"] is None
        and out["retake"]["section"] == VICTIM
        and out["retake"]["open_error"] is None
        and len(reports) == 9
        and all(r["error"] is None and r["ops"] > 0 and not r["mismatches"] for r in reports)
        and not out["broker_pids_after"]
    )


if __name__ == "__main__":
    sys.exit(main())
