"""Run inside the guest by tests/vm/test_broker_bad_cases.py: two bad cases of the section
broker on real VFIO.

    python -m tests.vm.broker_bad_cases_guest   (as root, in the guest)

Binds the ivshmem function to vfio-pci; then, with holder processes that borrow it through
the broker (:func:`qathw.vfio_lent.open_lent`) on command:

1. an outsider opens the function's VFIO group directly (:func:`qathw.vfio.open_device`,
   no broker) and keeps it; holder A asks the broker to lend the function and is refused;
   the broker's status is read; the outsider exits and A asks again;
2. holders A and B hold the function; the broker is killed with SIGKILL; each holder's
   next check (:meth:`~qathw.vfio_lent.LentDevice.broken`) answers, and each lists the
   VFIO fds it still has; the processes with the group open are listed; holder C (A and
   B still alive) borrows the function from a broker started on demand.

Prints one JSON object: every holder's answers and the broker's status at each point.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from qathw import admin, vfio
from qathw.broker import client
from qathw.paths import ENV_RUNTIME_DIR, HostRoot
from tests.vm.guest import pcitools

# A holder: answers one JSON line per command read from stdin.
HOLDER = """
import json, os, sys
from qathw.errors import QatError
from qathw.paths import HostRoot
from qathw.vfio_lent import open_lent

devs = []

def say(**kw):
    print(json.dumps(kw), flush=True)

def error(exc):
    return {"cls": type(exc).__name__, "msg": str(exc), "errno": exc.errno}

def vfio_fds():
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("/dev/vfio/") or "vfio-device" in target:
            found.append(target)
    return sorted(found)

say(pid=os.getpid())
for line in sys.stdin:
    cmd = line.strip()
    if cmd == "open":  # borrow BDF through the broker
        try:
            dev = open_lent(BDF, HostRoot())
        except QatError as exc:
            say(ok=False, error=error(exc))
            continue
        devs.append(dev)
        say(ok=True, broker_pid=dev._lease.session.broker_pid)
    elif cmd == "probe":  # the holder's check of its last device
        got = devs[-1].broken()
        say(error=None if got is None else error(got))
    elif cmd == "fds":  # the VFIO fds this process still has open
        say(fds=vfio_fds())
"""

OUTSIDER = (
    "import sys; from qathw import vfio; d = vfio.open_device(sys.argv[1]); "
    "print('ready', flush=True); sys.stdin.read()"
)


class Holder:
    """One holder process and its line protocol."""

    def __init__(self, bdf: str, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", f"BDF = {bdf!r}\n" + HOLDER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.hello = self._answer()

    def _answer(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.proc.kill()
            _, err = self.proc.communicate(timeout=30)
            raise RuntimeError(f"holder {self.proc.pid} gave no answer:\n{err[-3000:]}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def ask(self, cmd: str) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()
        return self._answer()

    def end(self) -> dict[str, Any]:
        _, err = self.proc.communicate("", timeout=60)
        return {"rc": self.proc.returncode, "stderr": err[-2000:]}


def _status() -> dict[str, Any]:
    got = client.status(HostRoot())
    assert got is not None, "no broker runs"
    return got.to_dict()


def _wait_dead(pid: int, timeout: float = 60.0) -> bool:
    """Whether ``pid`` ended (gone, or a zombie: its fds are closed) within ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


def main() -> None:
    (bdf,) = pcitools.find(pcitools.IVSHMEM)
    if pcitools.driver(bdf) != "vfio-pci":
        subprocess.run(["modprobe", "vfio-pci"], check=True)
        admin.bind(HostRoot(), bdf, "vfio-pci")
    node = Path(f"/dev/vfio/{vfio.iommu_group_of(bdf, HostRoot())}")
    run = Path(tempfile.mkdtemp(prefix="qathw-bad-")) / "run"
    os.environ[ENV_RUNTIME_DIR] = str(run)  # for this process's status requests too
    env = {k: v for k, v in os.environ.items() if k != "QATHW_BROKER"}
    report: dict[str, Any] = {"bdf": bdf}
    holders: list[Holder] = []
    outsider = subprocess.Popen(
        [sys.executable, "-c", OUTSIDER, bdf],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**env, "QATHW_BROKER": "off"},
    )
    try:
        assert outsider.stdout is not None
        assert outsider.stdout.readline().strip() == "ready", "the outsider did not open"
        report["outsider_pid"] = outsider.pid
        a = Holder(bdf, env)
        holders.append(a)
        report["a"] = a.hello
        report["a_busy"] = a.ask("open")
        report["status_busy"] = _status()
        outsider.communicate("", timeout=60)
        report["outsider_rc"] = outsider.returncode
        report["a_open"] = a.ask("open")
        report["status_a"] = _status()

        b = Holder(bdf, env)
        holders.append(b)
        report["b"] = b.hello
        report["b_open"] = b.ask("open")
        old = _status()
        report["status_both"] = old
        report["a_fds_before"] = a.ask("fds")
        report["group_holders_before"] = [list(h) for h in vfio.holders(node)]
        os.kill(old["pid"], signal.SIGKILL)
        report["broker_dead"] = _wait_dead(old["pid"])
        for name, holder in (("a", a), ("b", b)):
            report[f"{name}_probe"] = holder.ask("probe")
            report[f"{name}_fds"] = holder.ask("fds")
        report["group_holders"] = [list(h) for h in vfio.holders(node)]

        c = Holder(bdf, env)
        holders.append(c)
        report["c"] = c.hello
        report["c_open"] = c.ask("open")
        report["old_alive"] = [a.proc.poll() is None, b.proc.poll() is None]
        report["status_new"] = _status()
    except Exception as exc:  # report what was seen so far, with the reason
        report["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        if outsider.returncode is None:
            outsider.kill()
            outsider.wait()
        for holder in holders:
            if holder.proc.returncode is None:
                report.setdefault("ends", []).append(holder.end())
    log = run / "broker.log"
    report["broker_log"] = log.read_text(errors="replace")[-3000:] if log.exists() else ""
    print(json.dumps(report))


if __name__ == "__main__":
    main()
