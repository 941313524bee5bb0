"""The interrupt socket serves the endpoint's user only, and no client can hold it up.

Real sockets, a real server thread: silent clients connected at once do not delay another
client's handshake; a process of another uid is refused with EACCES; the endpoint file's
owner is answered even when the backend runs as someone else.
"""

from __future__ import annotations

import errno
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fakedev import endpoint_file
from fakedev.device import Device
from fakedev.irq import InterruptServer
from qathw.transport import irqproto
from tests.fakedev_sysfs.helpers import as_user

NOBODY = 65534
HANDSHAKE_BOUND = 0.5  # seconds; the server's per-client timeout is 1 s


@pytest.fixture
def endpoint(tmp_path: Path) -> Path:
    path = tmp_path / "4xxxvf.qat"
    endpoint_file.create(path, "4xxxvf", size=1 << 20)
    return path


@pytest.fixture
def server(endpoint: Path) -> Iterator[InterruptServer]:
    device = Device(endpoint)
    device.connect()
    srv = InterruptServer(device).start()
    yield srv
    srv.stop()
    device.close()


def _connect(name: bytes) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
    sock.settimeout(5.0)
    sock.connect(name)
    return sock


def _handshake(name: bytes, bank: int = 0) -> tuple[int, list[int]]:
    """Ask for ``bank``'s eventfd: (status, fds received)."""
    with _connect(name) as sock:
        sock.send(irqproto.REQUEST.pack(irqproto.MAGIC, irqproto.VERSION, bank))
        msg, fds, _, _ = socket.recv_fds(sock, irqproto.REPLY.size, 1)
    _, _, status = irqproto.REPLY.unpack(msg)
    return status, fds


def _handshake_as(uid: int, name: bytes) -> tuple[int, int]:
    """(status, eventfds received) of a handshake by a forked child running as ``uid``."""

    def ask() -> tuple[int, int]:
        status, fds = _handshake(name)
        return status, len(fds)

    return as_user(uid, ask)


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="switching uid needs root")


def test_ten_silent_clients_do_not_delay_a_handshake(server: InterruptServer) -> None:
    silent = [_connect(server.name) for _ in range(10)]
    try:
        start = time.monotonic()
        status, fds = _handshake(server.name)
        elapsed = time.monotonic() - start
    finally:
        for sock in silent:
            sock.close()
    for fd in fds:
        os.close(fd)
    assert (status, len(fds)) == (0, 1)
    assert elapsed < HANDSHAKE_BOUND


def test_a_silent_client_is_dropped_after_the_client_timeout(server: InterruptServer) -> None:
    with _connect(server.name) as sock:
        start = time.monotonic()
        assert sock.recv(irqproto.REPLY.size) == b""  # hung up on, no reply
        assert time.monotonic() - start < 3.0


@needs_root
def test_a_client_of_another_uid_is_refused(server: InterruptServer) -> None:
    assert _handshake_as(NOBODY, server.name) == (errno.EACCES, 0)
    assert server.refused == 1


@needs_root
def test_the_endpoint_files_owner_is_answered(endpoint: Path) -> None:
    os.chown(endpoint, NOBODY, NOBODY)
    device = Device(endpoint)
    device.connect()
    srv = InterruptServer(device).start()
    try:
        assert _handshake_as(NOBODY, srv.name) == (0, 1)
    finally:
        srv.stop()
        device.close()
