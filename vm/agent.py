"""The guest agent: ``python -m vm.agent`` runs inside the guest and executes commands.

virtme-ng starts it as the guest's one command (``vng --exec``); the migratable guest's
``/init`` starts it with ``--persistent``. It talks to the host over a virtio-serial port
(``/dev/virtio-ports/qathw.agent``, or the port named ``--port-name`` found through
sysfs where no udev made that link) in the line protocol of :mod:`vm.protocol`, runs one
request at a time, and exits — so the guest powers off — when asked to, or when no host
connects within ``--connect-timeout`` seconds, or when the host goes away (the port reads
end-of-file). The last two keep a guest whose host process died from running on.

With ``--persistent`` a host that goes away may come back: after a migration, a save
and restore, the host connects anew to the port of the QEMU now running the guest, and
the agent, which sees the old connection end, waits for the new one (polling, since a
port without a host reads end-of-file at once) and serves it.

Standard library only: it runs before anything is known about the guest's Python
environment beyond the interpreter itself.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import select
import signal
import subprocess
import sys
import time
from typing import Any

from vm.protocol import PORT_NAME, LineBuffer, encode

DEFAULT_TIMEOUT = 120.0
REPLY_TIMEOUT = 60.0  # a host that takes no reply for this long is gone
RECONNECT_POLL = 0.02  # seconds between looks for a host that went away (--persistent)


def _write_all(fd: int, data: bytes, deadline: float | None) -> bool:
    """Write everything; False if the host is not there to take it before ``deadline``."""
    view = memoryview(data)
    while view:
        wait = None if deadline is None else max(0.0, deadline - time.monotonic())
        _, writable, _ = select.select([], [fd], [], wait)
        if not writable:
            return False
        try:
            done = os.write(fd, view)
        except BlockingIOError:
            continue
        view = view[done:]
    return True


def _soon() -> float:
    return time.monotonic() + REPLY_TIMEOUT


def _run(req: dict[str, Any]) -> dict[str, Any]:
    timeout = float(req.get("timeout") or DEFAULT_TIMEOUT)
    env = dict(os.environ)
    env.update({str(k): str(v) for k, v in (req.get("env") or {}).items()})
    shell = req.get("shell")
    argv = req.get("argv")
    command: str | list[str]
    if isinstance(shell, str) and argv is None:
        command = shell
    elif isinstance(argv, list) and argv and shell is None:
        command = [str(a) for a in argv]
    else:
        return {"error": "a run request needs exactly one of 'argv' (a list) and 'shell'"}
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            command,
            shell=isinstance(command, str),
            cwd=req.get("cwd") or None,
            env=env,
            stdin=subprocess.PIPE if req.get("input") is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # so a timeout can end the command and its children
        )
    except OSError as exc:
        return {"error": f"cannot start {command!r}: {exc}"}
    timed_out = False
    try:
        out, err = proc.communicate(
            input=None if req.get("input") is None else str(req["input"]).encode(),
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
    return {
        "rc": proc.returncode,
        "stdout": out.decode("utf-8", "replace"),
        "stderr": err.decode("utf-8", "replace"),
        "timed_out": timed_out,
        "seconds": round(time.monotonic() - started, 3),
    }


def serve(port_path: str, connect_timeout: float, *, persistent: bool = False) -> int:
    """Answer requests on ``port_path`` until shutdown or host disconnect; the exit code.

    With ``persistent``, a host disconnect is not the end: the agent waits for the next
    host (a migrated or restored guest's) and serves it.
    """
    fd = os.open(port_path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
    hello = {
        "hello": {
            "pid": os.getpid(),
            "kernel": platform.release(),
            "python": platform.python_version(),
            "persistent": persistent,
        }
    }
    # The port is writable only once the host is connected; give up if it never is.
    if not _write_all(fd, encode(hello), time.monotonic() + connect_timeout):
        print("vm.agent: no host connected; powering off", file=sys.stderr)
        return 3
    reader = LineBuffer()
    while True:
        select.select([fd], [], [])
        try:
            data = os.read(fd, 1 << 16)
        except BlockingIOError:
            continue
        if not data:
            if not persistent:
                print("vm.agent: host disconnected; powering off", file=sys.stderr)
                return 0
            # No host on the port: it reads end-of-file until one connects. A line the
            # old host left half-sent is dropped; the new host starts afresh.
            reader = LineBuffer()
            time.sleep(RECONNECT_POLL)
            continue
        for req in reader.feed(data):
            op = req.get("op")
            reply: dict[str, Any]
            if op == "run":
                reply = _run(req)
            elif op == "ping":
                reply = {"pong": True, "pid": os.getpid()}
            elif op == "shutdown":
                _write_all(fd, encode({"id": req.get("id"), "bye": True}), _soon())
                return 0
            else:
                reply = {"error": f"unknown op {op!r}"}
            reply["id"] = req.get("id")
            if not _write_all(fd, encode(reply), _soon()):
                if persistent:
                    continue  # the host went away mid-reply; the next one asks again
                print("vm.agent: host stopped reading; powering off", file=sys.stderr)
                return 0


def find_port(name: str) -> str | None:
    """The device of the virtio-serial port called ``name``: udev's link, else via sysfs."""
    link = f"/dev/virtio-ports/{name}"
    if os.path.exists(link):
        return link
    with contextlib.suppress(OSError):
        for dev in sorted(os.listdir("/sys/class/virtio-ports")):
            with contextlib.suppress(OSError), open(f"/sys/class/virtio-ports/{dev}/name") as f:
                if f.read().strip() == name and os.path.exists(f"/dev/{dev}"):
                    return f"/dev/{dev}"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vm.agent", description=__doc__)
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--port", help="the port's device (default: found by --port-name)")
    where.add_argument("--port-name", default=PORT_NAME,
                       help="the virtio-serial port's name (udev link or sysfs)")  # fmt: skip
    parser.add_argument("--connect-timeout", type=float, default=60.0)
    parser.add_argument(
        "--persistent",
        action="store_true",
        help="keep serving across host disconnects (migration, restore)",
    )
    args = parser.parse_args(argv)
    deadline = time.monotonic() + args.connect_timeout
    port = args.port if args.port else find_port(args.port_name)
    while port is None or not os.path.exists(port):  # udev or the driver may still be at it
        if time.monotonic() > deadline:
            print(f"vm.agent: {args.port or args.port_name} never appeared", file=sys.stderr)
            return 2
        time.sleep(0.05)
        port = args.port if args.port else find_port(args.port_name)
    return serve(port, args.connect_timeout, persistent=args.persistent)


if __name__ == "__main__":
    sys.exit(main())
