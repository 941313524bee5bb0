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
"""

from __future__ import annotations

import errno
import logging
import socket
import threading

from fakedev.device import Device
from qathw.transport import irqproto

log = logging.getLogger("fakedev")

_ACCEPT_POLL = 0.1  # seconds between checks of the stop flag


class InterruptServer:
    """Serves bank eventfds of ``device`` on its epoch's socket until :meth:`stop`.

    Args:
        device: the device model, already connected (its epoch names the socket).

    Raises:
        OSError: the socket cannot be bound (another backend with the same epoch).
    """

    def __init__(self, device: Device) -> None:
        page = device.file.control
        assert page is not None
        self.device = device
        self.name = irqproto.socket_name(page.backend_epoch)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
        self._sock.bind(self.name)
        self._sock.listen(16)
        self._sock.settimeout(_ACCEPT_POLL)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name="fakedev-irq", daemon=True)

    def start(self) -> InterruptServer:
        self._thread.start()
        return self

    def _main(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # the socket was closed under us: stopping
            with conn:
                conn.settimeout(1.0)
                try:
                    self._answer(conn)
                except OSError as exc:
                    log.warning("interrupt request failed: %s", exc)

    def _answer(self, conn: socket.socket) -> None:
        msg = conn.recv(irqproto.REQUEST.size)
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
        self._sock.close()


__all__ = ["InterruptServer"]
