"""Whether KVM really works here: a short boot, never a look at ``/dev/kvm`` alone.

On the project's machines ``/dev/kvm`` opens and ``KVM_CREATE_VM`` succeeds, yet QEMU
aborts with ``-cpu host`` or hangs after "Booting from ROM" with other models
(docs/hardware.md#ivshmem-and-qemu). So the probe boots the kernel with
KVM and no root file system and waits for the kernel's first words on the serial port.
The harness itself always uses TCG; the probe only reports.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass

from vm import procs
from vm.host import find_tools


@dataclass(frozen=True)
class KvmVerdict:
    usable: bool
    reason: str
    seconds: float


def probe(timeout: float = 20.0) -> KvmVerdict:
    """Boot the kernel under KVM for at most ``timeout`` seconds.

    Returns:
        Usable when the kernel printed its banner in time; otherwise why not.
    """
    started = time.monotonic()
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return KvmVerdict(False, "/dev/kvm is missing or not accessible", 0.0)
    tools = find_tools()
    argv = [
        str(tools.qemu), "-accel", "kvm", "-cpu", "host", "-m", "256", "-smp", "1",
        "-display", "none", "-vga", "none", "-monitor", "none", "-serial", "stdio",
        "-no-reboot", "-kernel", str(tools.kernel),
        "-append", "console=ttyS0 panic=-1 earlyprintk=serial",
    ]  # fmt: skip
    proc = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    tracked = procs.Tracked.of(proc.pid)
    token = procs.reaper.register(lambda: tracked.end(grace=1.0))
    assert proc.stdout is not None
    os.set_blocking(proc.stdout.fileno(), False)
    seen = b""
    try:
        while time.monotonic() - started < timeout:
            chunk = proc.stdout.read() or b""
            seen += chunk
            if b"Linux version" in seen:
                return KvmVerdict(True, "the kernel booted under KVM", time.monotonic() - started)
            if proc.poll() is not None and not chunk:
                last = seen.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
                return KvmVerdict(
                    False,
                    f"QEMU exited with {proc.returncode} before the kernel spoke: {last[0]}",
                    time.monotonic() - started,
                )
            time.sleep(0.1)
        return KvmVerdict(
            False,
            f"no kernel output within {timeout:.0f}s (the guest hangs under KVM)",
            time.monotonic() - started,
        )
    finally:
        tracked.end(grace=1.0)
        proc.wait()
        proc.stdout.close()
        procs.reaper.unregister(token)
