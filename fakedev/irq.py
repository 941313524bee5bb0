"""The backend as interrupt controller: bank eventfds handed to drivers over a Unix socket.

A real function raises MSI interrupts; an emulated endpoint has no line to raise, so its
backend hands each driver that asks the eventfd of a bank (``SCM_RIGHTS``, the way
``ivshmem-server`` gives QEMU its doorbell eventfds) and the device model writes it when
it posts responses on a ring whose interrupt the driver enabled
(:class:`fakedev.device.DeviceBank`). The protocol and the socket's name (abstract
namespace, named after the backend epoch) are in :mod:`qathw.transport.irqproto`.

:class:`InterruptServer` answers in a thread of the backend process (the runner starts
one with the device, in thread and process mode alike); a device stepped by hand has
none, and a driver asking for an interrupt is told so.

An abstract socket has no file permissions: any local process can connect. So the server
checks each peer's credentials (``SO_PEERCRED``) and answers only the endpoint's user (the
owner of the endpoint file, or the backend's own uid); others get ``EACCES``. And it never
waits on one client: every connection is non-blocking and multiplexed in the one thread,
a silent client is dropped after :data:`CLIENT_TIMEOUT`, and at most
:data:`MAX_PENDING` wait at once (the oldest is dropped for a new one), so slow or silent
clients cannot delay another's handshake.
"""

from __future__ import annotations

import errno
import logging
import os
import selectors
import socket
import struct
import threading
import time

from fakedev.device import Device
from qathw.transport import irqproto

log = logging.getLogger("fakedev")

_ACCEPT_POLL = 0.1  # seconds between checks of the stop flag
CLIENT_TIMEOUT = 1.0  # seconds a connected client has to send its request
MAX_PENDING = 64  # connections waiting for their request at once
_UCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid


def peer_uid(conn: socket.socket) -> int:
    """The uid of the process at the other end of a connected Unix socket."""
    raw = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    return int(_UCRED.unpack(raw)[1])


class InterruptServer:
    """Serves bank eventfds of ``device`` on its epoch's socket until :meth:`stop`.

    Args:
        device: the device model, already connected (its epoch names the socket).

    Attributes:
        allowed_uids: the uids whose processes are answered (endpoint file's owner and
            this process's effective uid).
        refused: connections refused for their credentials so far.

    Raises:
        OSError: the socket cannot be bound (another backend with the same epoch).
    """

    def __init__(self, device: Device) -> None:
        page = device.file.control
        assert page is not None
        self.device = device
        self.name = irqproto.socket_name(page.backend_epoch)
        self.allowed_uids = frozenset({os.stat(device.file.path).st_uid, os.geteuid()})
        self.refused = 0
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
        self._sock.bind(self.name)
        self._sock.listen(64)
        self._sock.setblocking(False)
        self._sel = selectors.DefaultSelector()
        self._sel.register(self._sock, selectors.EVENT_READ)
        # connection -> deadline, refused ([0]) and allowed ([1]) clients apart; dicts
        # keep insertion order, so the first is the oldest
        self._waiting: tuple[dict[socket.socket, float], ...] = ({}, {})
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name="fakedev-irq", daemon=True)

    def start(self) -> InterruptServer:
        self._thread.start()
        return self

    def _main(self) -> None:
        try:
            while not self._stop.is_set():
                timeout = _ACCEPT_POLL
                for waiting in self._waiting:
                    if waiting:
                        first = next(iter(waiting.values()))
                        timeout = min(timeout, max(0.0, first - time.monotonic()))
                for key, _ in self._sel.select(timeout):
                    conn = key.fileobj
                    assert isinstance(conn, socket.socket)
                    if conn is self._sock:
                        if not self._accept():
                            return  # the socket was closed under us: stopping
                        continue
                    if not self._drop(conn):
                        continue  # dropped (closed) for a newer one earlier in this batch
                    try:
                        if key.data:
                            self._answer(conn)
                        else:
                            self._refuse(conn)
                    except OSError as exc:
                        log.warning("interrupt request failed: %s", exc)
                self._expire(time.monotonic())
        finally:
            for waiting in self._waiting:
                for conn in list(waiting):
                    self._drop(conn)
                    conn.close()

    def _accept(self) -> bool:
        """Accept every waiting connection; False when the listening socket is gone."""
        while True:
            try:
                conn, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return True
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    log.warning("interrupt socket: cannot accept: %s", exc)
                    return True
                return False
            conn.setblocking(False)
            try:
                allowed = peer_uid(conn) in self.allowed_uids
            except OSError:
                conn.close()
                continue
            # A refused client is answered (EACCES) once it has sent its request: replying
            # and closing at once would make its send fail with EPIPE instead. Refused
            # clients wait apart, so they can never push out an allowed one.
            waiting = self._waiting[allowed]
            if len(waiting) >= MAX_PENDING:
                oldest = next(iter(waiting))  # it waited longest
                self._drop(oldest)
                oldest.close()
            waiting[conn] = time.monotonic() + CLIENT_TIMEOUT
            self._sel.register(conn, selectors.EVENT_READ, allowed)

    def _drop(self, conn: socket.socket) -> bool:
        """Stop watching ``conn`` (False: it was not watched); closing is the caller's."""
        for waiting in self._waiting:
            if waiting.pop(conn, None) is not None:
                self._sel.unregister(conn)
                return True
        return False

    def _expire(self, now: float) -> None:
        for waiting in self._waiting:
            while waiting:
                conn, deadline = next(iter(waiting.items()))
                if deadline > now:
                    break
                self._drop(conn)
                conn.close()

    def _refuse(self, conn: socket.socket) -> None:
        with conn:
            self.refused += 1
            uid = peer_uid(conn)
            log.warning("interrupt socket: refused a client of uid %d", uid)
            try:
                conn.recv(irqproto.REQUEST.size)
            except BlockingIOError:
                pass
            self._reply(conn, errno.EACCES)

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            self._answer_request(conn)

    def _answer_request(self, conn: socket.socket) -> None:
        try:
            msg = conn.recv(irqproto.REQUEST.size)
        except BlockingIOError:
            return  # readable but nothing there (spurious wakeup): the client loses its turn
        if not msg:
            return  # the client hung up without asking
        if len(msg) != irqproto.REQUEST.size:
            self._reply(conn, errno.EPROTO)
            return
        magic, version, bank = irqproto.REQUEST.unpack(msg)
        if magic != irqproto.MAGIC or version != irqproto.VERSION:
            self._reply(conn, errno.EPROTO)
            return
        if not 0 <= bank < len(self.device.banks):
            self._reply(conn, errno.EINVAL)
            return
        fd = self.device.interrupt_eventfd(bank)
        socket.send_fds(conn, [irqproto.REPLY.pack(irqproto.MAGIC, irqproto.VERSION, 0)], [fd])

    @staticmethod
    def _reply(conn: socket.socket, status: int) -> None:
        conn.send(irqproto.REPLY.pack(irqproto.MAGIC, irqproto.VERSION, status))

    def stop(self) -> None:
        """Stop answering and close the socket."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self._sel.close()
        self._sock.close()


__all__ = ["CLIENT_TIMEOUT", "MAX_PENDING", "InterruptServer", "peer_uid"]
