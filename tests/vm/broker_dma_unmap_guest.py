"""Run inside the guest by tests/vm/test_broker_dma_unmap.py: holders map real DMA memory
through the container the section broker lent, one is killed, the broker unmaps its range.

    python -m tests.vm.broker_dma_unmap_guest   (as root, in the guest)

Binds the ivshmem function to vfio-pci; then, with holder processes that each borrow it
through the broker (:func:`qathw.vfio_lent.open_lent`) and map DMA memory into the shared
container through the vIOMMU (``VFIO_IOMMU_MAP_DMA``):

1. holders A and B each pin a 4 MiB buffer from a :class:`~qathw.vfio_dma.VfioDmaPool`
   inside their lease's IOVA range;
2. A is killed with SIGKILL, its mapping live; the broker's status is read once A's
   lease is gone; B then checks its buffer, maps 2 MiB more;
3. holder C borrows the endpoint, gets A's range, maps 4 MiB at the IOVA A's buffer had
   (``MAP_DMA`` refuses an IOVA that is mapped: C shows it by mapping it twice);
4. holder D, without ``CAP_IPC_LOCK`` and with ``RLIMIT_MEMLOCK`` set to 64 KiB, maps
   1 MiB: refused with qathw's memlock error; the broker's status is read after D ended;
5. B unmaps its whole range (the bytes the kernel says it removed).

Prints one JSON object: every holder's answers and the broker's status at each point.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from qathw import admin
from qathw.broker import client
from qathw.paths import ENV_RUNTIME_DIR, HostRoot
from tests.vm.guest import pcitools

MIB = 1 << 20
CAP_IPC_LOCK = 14
PR_CAPBSET_DROP = 24

# A holder: borrows BDF through the broker, then answers one JSON line per command read
# from stdin. Its pool's buffer stays mapped until the process ends.
HOLDER = """
import ctypes, errno, json, mmap, os, resource, sys
from qathw.errors import QatError
from qathw.memlock import locked_bytes
from qathw.paths import HostRoot
from qathw.vfio_dma import VfioDmaPool
from qathw.vfio_lent import open_lent

dev = open_lent(BDF, HostRoot())
box = dev.container
pool = VfioDmaPool(box, 16 << 20)
kept = []

def say(**kw):
    print(json.dumps(kw), flush=True)

def addr(mem):
    anchor = ctypes.c_char.from_buffer(mem)
    try:
        return ctypes.addressof(anchor)
    finally:
        del anchor

def error(exc):
    return {"cls": type(exc).__name__, "msg": str(exc), "errno": exc.errno}

say(pid=os.getpid(), window=list(box.iova_window), broker_pid=dev._lease.session.broker_pid)
for line in sys.stdin:
    cmd, *args = line.split()
    if cmd == "pool":  # a buffer from the pool, filled with a pattern
        size = int(args[0])
        buf = pool.alloc(size, 1 << 21)
        buf.view[:] = bytes([os.getpid() & 0xFF]) * size
        kept.append(buf)
        say(iova=buf.iova, size=size, pinned=pool.pinned, locked=locked_bytes())
    elif cmd == "check":  # the first buffer still holds its pattern
        buf = kept[0]
        say(intact=bytes(buf.view) == bytes([os.getpid() & 0xFF]) * len(buf.view))
    elif cmd == "map":  # map_dma at a given IOVA, twice: the second must overlap
        iova, size = int(args[0]), int(args[1])
        mem = mmap.mmap(-1, size)
        kept.append(mem)
        got = {}
        for attempt in ("first", "again"):
            try:
                box.map_dma(addr(mem), iova, size)
                got[attempt] = None
            except QatError as exc:
                got[attempt] = error(exc)
        say(**got)
    elif cmd == "memlock":  # RLIMIT_MEMLOCK down to args[0] bytes, then map args[1]
        limit, size = int(args[0]), int(args[1])
        resource.setrlimit(resource.RLIMIT_MEMLOCK, (limit, limit))
        mem = mmap.mmap(-1, size)
        kept.append(mem)
        iova = box.iova_window[0]
        try:
            box.map_dma(addr(mem), iova, size)
            say(mapped=True, error=None)
        except QatError as exc:
            say(mapped=False, error=error(exc))
    elif cmd == "unmap_window":  # everything this lease mapped, as the kernel counts it
        start, end = box.iova_window
        say(unmapped=box.unmap_dma(start, end - start))
"""


class Holder:
    """One holder process and its line protocol."""

    def __init__(self, bdf: str, env: dict[str, str], *, drop_ipc_lock: bool = False) -> None:
        def no_ipc_lock() -> None:
            # Root keeps CAP_IPC_LOCK across exec only if the bounding set has it.
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(PR_CAPBSET_DROP, CAP_IPC_LOCK, 0, 0, 0) != 0:
                raise OSError(ctypes.get_errno(), "PR_CAPBSET_DROP")

        self.proc = subprocess.Popen(
            [sys.executable, "-c", f"BDF = {bdf!r}\n" + HOLDER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            preexec_fn=no_ipc_lock if drop_ipc_lock else None,
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

    def ask(self, *words: object) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(" ".join(str(w) for w in words) + "\n")
        self.proc.stdin.flush()
        return self._answer()

    def end(self) -> dict[str, Any]:
        _, err = self.proc.communicate("", timeout=60)
        return {"rc": self.proc.returncode, "stderr": err[-2000:]}


def _status_once(gone_pid: int | None = None, timeout: float = 60.0) -> dict[str, Any]:
    """The broker's status; with ``gone_pid``, once no lease of that pid is left."""
    deadline = time.monotonic() + timeout
    while True:
        got = client.status(HostRoot())
        assert got is not None, "no broker runs"
        doc = got.to_dict()
        if gone_pid is None or all(lease["pid"] != gone_pid for lease in doc["leases"]):
            return doc
        if time.monotonic() > deadline:
            return {**doc, "waited_out": True}
        time.sleep(0.1)


def main() -> None:
    (bdf,) = pcitools.find(pcitools.IVSHMEM)
    if pcitools.driver(bdf) != "vfio-pci":
        subprocess.run(["modprobe", "vfio-pci"], check=True)
        admin.bind(HostRoot(), bdf, "vfio-pci")
    run = Path(tempfile.mkdtemp(prefix="qathw-dma-")) / "run"
    os.environ[ENV_RUNTIME_DIR] = str(run)  # for this process's status requests too
    env = {k: v for k, v in os.environ.items() if k != "QATHW_BROKER"}
    report: dict[str, Any] = {"bdf": bdf}
    holders: list[Holder] = []
    try:
        a = Holder(bdf, env)
        b = Holder(bdf, env)
        holders += [a, b]
        report["a"], report["b"] = a.hello, b.hello
        report["a_pool"] = a.ask("pool", 4 * MIB)
        report["b_pool"] = b.ask("pool", 4 * MIB)
        report["status_both"] = _status_once()

        a.proc.send_signal(signal.SIGKILL)
        a.proc.wait(timeout=60)
        report["a_rc"] = a.proc.returncode
        report["status_after_kill"] = _status_once(gone_pid=a.proc.pid)
        report["b_check"] = b.ask("check")
        report["b_more"] = b.ask("pool", 2 * MIB)

        c = Holder(bdf, env)
        holders.append(c)
        report["c"] = c.hello
        report["c_map"] = c.ask("map", report["a_pool"]["iova"], 4 * MIB)

        d = Holder(bdf, env, drop_ipc_lock=True)
        holders.append(d)
        report["d"] = d.hello
        report["d_memlock"] = d.ask("memlock", 64 * 1024, MIB)
        report["d_end"] = d.end()
        report["status_after_memlock"] = _status_once(gone_pid=d.proc.pid)

        report["b_check_after"] = b.ask("check")
        report["b_unmap"] = b.ask("unmap_window")
    except Exception as exc:  # report what was seen so far, with the reason
        report["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        for holder in holders:
            if holder.proc.returncode is None:
                report.setdefault("ends", []).append(holder.end())
    log = run / "broker.log"
    report["broker_log"] = log.read_text(errors="replace")[-3000:] if log.exists() else ""
    print(json.dumps(report))


if __name__ == "__main__":
    main()
