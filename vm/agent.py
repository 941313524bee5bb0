"""The guest agent: ``python -m vm.agent`` runs inside the guest and executes commands.

virtme-ng starts it as the guest's one command (``vng --exec``). It talks to the host
over a virtio-serial port (``/dev/virtio-ports/qathw.agent``) in the line protocol of
:mod:`vm.protocol`, runs one request at a time, and exits — so the guest powers off —
when asked to, or when the host goes away (the port reads end-of-file), or when no host
connects within ``--connect-timeout`` seconds. The last two keep a guest whose host
process died from running on. Standard library only: it runs before anything is known
about the guest's Python environment beyond the interpreter itself.
"""

from __future__ import annotations

import argparse
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


def serve(port_path: str, connect_timeout: float) -> int:
    """Answer requests on ``port_path`` until shutdown or host disconnect; the exit code."""
    fd = os.open(port_path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
    hello = {
        "hello": {
            "pid": os.getpid(),
            "kernel": platform.release(),
            "python": platform.python_version(),
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
            print("vm.agent: host disconnected; powering off", file=sys.stderr)
            return 0
        for req in reader.feed(data):
            op = req.get("op")
            reply: dict[str, Any]
            if op == "run":
                reply = _run(req)
            elif op == "ping":
                reply = {"pong": True}
            elif op == "shutdown":
                _write_all(fd, encode({"id": req.get("id"), "bye": True}), _soon())
                return 0
            else:
                reply = {"error": f"unknown op {op!r}"}
            reply["id"] = req.get("id")
            if not _write_all(fd, encode(reply), _soon()):
                print("vm.agent: host stopped reading; powering off", file=sys.stderr)
                return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vm.agent", description=__doc__)
    parser.add_argument("--port", default=f"/dev/virtio-ports/{PORT_NAME}")
    parser.add_argument("--connect-timeout", type=float, default=60.0)
    args = parser.parse_args(argv)
    deadline = time.monotonic() + args.connect_timeout
    while not os.path.exists(args.port):  # udev may still be creating the link
        if time.monotonic() > deadline:
            print(f"vm.agent: {args.port} never appeared", file=sys.stderr)
            return 2
        time.sleep(0.05)
    return serve(args.port, args.connect_timeout)


if __name__ == "__main__":
    sys.exit(main())
