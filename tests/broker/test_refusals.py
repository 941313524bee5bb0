"""What the broker refuses: other users, malformed messages, a group held elsewhere —
each with a clear error, and the broker goes on serving the others."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

from qathw.broker import client, protocol
from tests.broker.conftest import BDFS, Rig

NOBODY = 65534


def _as_nobody(rig: Rig) -> dict[str, str]:
    """Run ``connect(start=False)`` as uid nobody in a forked child; its error class and text."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        answer = {"error": "", "message": "connected"}
        try:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            client.connect(runtime_dir=rig.runtime_dir, start=False).close()
        except Exception as exc:
            answer = {"error": type(exc).__name__, "message": str(exc)}
        finally:
            os.write(write, json.dumps(answer).encode())
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as f:
        text = f.read()
    os.waitpid(pid, 0)
    result: dict[str, str] = json.loads(text)
    return result


def test_another_user_is_refused_by_the_directory_permissions(rig: Rig) -> None:
    rig.start_broker()
    answer = _as_nobody(rig)
    assert answer["error"] == "BrokerPermissionError"
    assert "permission denied" in answer["message"]


def test_another_user_is_refused_by_the_broker_when_the_directory_is_open(rig: Rig) -> None:
    rig.start_broker()
    os.chmod(rig.runtime_dir.parent, 0o755)
    os.chmod(rig.runtime_dir, 0o777)
    os.chmod(rig.socket, 0o777)
    answer = _as_nobody(rig)
    assert answer["error"] == "BrokerPermissionError"
    assert f"uid {NOBODY} may not use this broker" in answer["message"]


def _raw(rig: Rig) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    sock.settimeout(30)
    sock.connect(os.fspath(rig.socket))
    return sock


def _refused_then_closed(sock: socket.socket, packet: bytes) -> str:
    sock.send(packet)
    reply = protocol.recv(sock, protocol.MAX_REPLY)
    assert reply is not None and reply.body["ok"] is False
    assert protocol.recv(sock, protocol.MAX_REPLY) is None  # and the connection is closed
    what: str = reply.body["error"]["what"]
    return what


def test_a_message_that_is_not_json_is_refused(rig: Rig) -> None:
    rig.start_broker()
    assert "not JSON" in _refused_then_closed(_raw(rig), b"lend me everything\n")


def test_an_oversized_message_is_refused(rig: Rig) -> None:
    rig.start_broker()
    packet = json.dumps({"op": "hello", "pad": "x" * 65536}).encode()
    assert f"longer than {protocol.MAX_REQUEST}" in _refused_then_closed(_raw(rig), packet)


def test_a_lend_before_hello_is_refused(rig: Rig) -> None:
    rig.start_broker()
    packet = json.dumps({"op": "lend", "bdf": BDFS[0]}).encode()
    assert "expected hello" in _refused_then_closed(_raw(rig), packet)


def test_a_bdf_that_is_not_a_pci_address_is_refused(rig: Rig) -> None:
    rig.start_broker()
    sock = _raw(rig)
    protocol.send(sock, {"op": "hello", "version": protocol.VERSION, "role": "holder"})
    assert protocol.recv(sock, protocol.MAX_REPLY) is not None
    packet = json.dumps({"op": "lend", "bdf": "../../../dev/mem"}).encode()
    assert "not a PCI address" in _refused_then_closed(sock, packet)


def test_the_broker_serves_others_after_refusing_a_malformed_message(rig: Rig) -> None:
    rig.start_broker()
    holder = rig.holder(start=False)
    _refused_then_closed(_raw(rig), b"\xff\xfe")
    assert holder.ask(f"lend {BDFS[0]}")["device"] == f"device {BDFS[0]}"
    assert rig.holder(start=False).ask(f"lend {BDFS[0]}")["device"] == f"device {BDFS[0]}"


def test_a_group_held_outside_the_broker_is_a_clear_error_naming_the_holder(rig: Rig) -> None:
    outsider = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys\n"
            f"fd = os.open({str(rig.state / (BDFS[0] + '.group'))!r}, os.O_RDWR | os.O_CREAT)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX); os.write(fd, str(os.getpid()).encode())\n"
            "print('held', flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    rig.procs.append(outsider)
    assert outsider.stdout is not None and outsider.stdout.readline() == "held\n"
    holder = rig.holder()
    answer = holder.ask(f"lend {BDFS[0]}")
    assert answer["error"] == "VfioGroupBusyError"
    assert f"pid {outsider.pid}" in answer["message"]
    assert holder.ask(f"lend {BDFS[1]}")["device"] == f"device {BDFS[1]}"
