"""What the backend-side split-driver tests share: the control page as the other parties
see it, a VF's side of the mailbox word by word, and ``python -m fakedev serve``.

Nothing here is a frontend: the tests write the frontend's words (its epoch, state and
bank links) straight into the shared memory, as any frontend (or a hostile guest) can,
so the backend is tested against the protocol, not against one frontend.
"""

from __future__ import annotations

import contextlib
import mmap
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from fakedev import endpoint_file
from qathw import emulated
from qathw.emulated import ControlInfo, qathw_emu_bank_link, qathw_emu_control
from qathw.transport import pfvf
from qathw.transport.csr import layout_for

ROOT = Path(__file__).resolve().parents[2]
WAIT = 10.0  # seconds a test waits for another process before it fails


class Page:
    """An endpoint file mapped whole, read and written field by field (plain memory)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with open(path, "r+b") as f:
            self.mm = mmap.mmap(f.fileno(), 0)
        self.info = emulated.read_control(self.mm[: emulated.CONTROL_PAGE_SIZE])

    def get(self, name: str) -> int:
        field = getattr(qathw_emu_control, name)
        return int.from_bytes(self.mm[field.offset : field.offset + field.size], "little")

    def set(self, name: str, value: int) -> None:
        field = getattr(qathw_emu_control, name)
        self.mm[field.offset : field.offset + field.size] = value.to_bytes(field.size, "little")

    def control(self) -> ControlInfo:
        return emulated.read_control(self.mm[: emulated.CONTROL_PAGE_SIZE])

    def link(self, bank: int, epoch: int) -> None:
        """Bank ``bank``'s link epoch, as a frontend writes it after programming the bank."""
        at = emulated.link_offset(bank) + qathw_emu_bank_link.epoch.offset
        self.mm[at : at + 8] = epoch.to_bytes(8, "little")

    def ack(self, bank: int, request: int) -> None:
        """Bank ``bank``'s suspend acknowledgement, as a frontend writes it."""
        at = emulated.link_offset(bank) + qathw_emu_bank_link.suspend_ack.offset
        self.mm[at : at + 4] = request.to_bytes(4, "little")

    def handshake(self, state: emulated.XenbusState = emulated.XenbusState.INITIALISED) -> None:
        """The frontend's half: its epoch is the backend's, and its state ``state``."""
        self.set("frontend_epoch", self.get("backend_epoch"))
        self.set("frontend_state", int(state))

    def close(self) -> None:
        self.mm.close()

    def __enter__(self) -> Page:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def wait_until(
    what: str, ready: Callable[[], bool], idle: Callable[[], object] | None = None
) -> None:
    """Poll ``ready`` (stepping ``idle`` between looks) until it holds, or fail."""
    deadline = time.monotonic() + WAIT
    while not ready():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        if idle is not None:
            idle()
        else:
            time.sleep(0.002)


class RawVf:
    """A gen4 VF's side of the PF/VF mailbox, register by register (no qathw driver).

    Args:
        page: the endpoint, mapped.
        idle: called while waiting for the PF (a hand-stepped device's ``step``), or
            ``None`` to sleep (a device in another process).
    """

    def __init__(self, page: Page, idle: Callable[[], object] | None = None) -> None:
        lay = layout_for(page.info.kind.generation)
        base = page.info.windows.pmisc_offset
        self._mm = page.mm
        self._vm2pf = base + lay.vm2pf
        self._pf2vm = base + lay.pf2vm
        self._idle = idle

    def _read(self, at: int) -> int:
        return int.from_bytes(self._mm[at : at + 4], "little")

    def _write(self, at: int, value: int) -> None:
        self._mm[at : at + 4] = value.to_bytes(4, "little")

    def send(self, msg_type: int, data: int = 0) -> None:
        """Write a message to VM2PF and wait until the PF acknowledges it (clears INT)."""
        self._write(self._vm2pf, pfvf.encode(msg_type, data))
        wait_until(
            "the PF's acknowledgement",
            lambda: not self._read(self._vm2pf) & pfvf.PFVF_INT,
            self._idle,
        )

    def receive(self) -> int:
        """Wait for a message in PF2VM, acknowledge it (clear INT), return its word."""
        wait_until(
            "a PF message", lambda: bool(self._read(self._pf2vm) & pfvf.PFVF_INT), self._idle
        )
        word = self._read(self._pf2vm)
        self._write(self._pf2vm, word & ~pfvf.PFVF_INT)
        return word

    def init_v5(self) -> None:
        """What a version 5 VF driver does at start: version request, then INIT."""
        self.send(pfvf.Vf2PfType.COMPAT_VER_REQ, pfvf.COMPAT_THIS_VERSION)
        word = self.receive()
        assert pfvf.msg_type(word) == pfvf.Pf2VfType.VERSION_RESP
        self.send(pfvf.Vf2PfType.INIT)


@contextlib.contextmanager
def serving(path: Path, *args: str) -> Iterator[subprocess.Popen[str]]:
    """``python -m fakedev serve PATH ARGS`` running (its readiness line read), stopped with
    SIGTERM at the end."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "fakedev", "serve", str(path), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("serving "), proc.stderr.read() if proc.stderr else line
        yield proc
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[str]) -> None:
    """SIGTERM, a wait, SIGKILL if it must; the pipes closed."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(WAIT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(WAIT)
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


def new_endpoint(path: Path, device: str = "4xxxvf") -> Path:
    """A new endpoint file, as ``python -m fakedev create`` makes it (2 MiB for a VF, 8
    for a PF: its 64 banks' CSRs)."""
    endpoint_file.create(path, device, size=(2 if device.endswith("vf") else 8) << 20)
    return path
