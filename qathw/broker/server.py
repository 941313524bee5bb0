"""The section broker: owns each endpoint's VFIO fds and lends them, one lease per connection.

Why: a VFIO group is open in one process at a time, but the sections of one QAT function
belong to different processes. The broker opens each endpoint (container, group, device)
once, through an :class:`FdSource`, and lends the three fds to every holder that asks
(``SCM_RIGHTS``); each holder maps the BAR and its own DMA memory itself. See
docs/design.md#section-broker.

Leases: a holder's connection is its lease. Each lease gets, per endpoint it borrows, an
IOVA *slot*: ``slot_size`` bytes at ``k * slot_size`` (the lowest free ``k >= 1`` whose
slot lies inside the container's valid IOVA ranges), so holders sharing a container never
collide. When the connection ends — close, exit, ``kill -9`` — the broker unmaps the
whole slot on that endpoint (``FdSource`` ``unmap_range``), which unpins whatever the
holder mapped there, counts the bytes, and only then lets the slot be reused.

Life: the broker takes ``broker.lock`` (flock) before it binds ``broker.sock``, so of two
starting brokers one serves and the other exits 0; a socket file left by a dead broker
is replaced under the lock. It exits ``linger`` seconds after its last lease ended
(never with a negative linger), and ``idle_exit`` seconds after its last activity while
it never had a lease (a broker nobody came to: its starter died or gave up). Activity is
a holder's connection, or its end; a status connection (``qathw sections``) is no
lease: it neither starts nor ends nor prolongs those countdowns. It is single-threaded (a
selector) and never blocks on a client: requests are small and bounded, replies are sent
without blocking, and a client whose socket is full is dropped.

Trust: clients are checked with ``SO_PEERCRED`` (this uid or root); everything a client
sends is validated (size, JSON, fields, BDF form) and a malformed message ends that
client only.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import selectors
import signal
import socket
import stat
import sys
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TextIO

from qathw import emulated
from qathw.broker import protocol
from qathw.broker.pf_owner import MailboxWindow, PfOwner
from qathw.broker.rundir import make_private_dir
from qathw.errors import BrokerError, BrokerPermissionError, DeviceNotFoundError, QatError

DEFAULT_LINGER = 1.0  # seconds after the last lease: a restarting holder finds it still up
# A broker nobody borrowed from (its starter died or gave up) does not stay; long enough
# that holders on a slow machine (a TCG guest: seconds per Python start) still come.
DEFAULT_IDLE_EXIT = 30.0
DEFAULT_SLOT_SIZE = 1 << 30  # 1 GiB of IOVA per lease and endpoint
MAX_CLIENTS = 1024


class EndpointFds(Protocol):
    """One opened endpoint: the three fds the broker lends, and how to clean a range.

    Attributes:
        container_fd: the container (one IOVA space) the group is attached to.
        group_fd: the group, attached, IOMMU set.
        device_fd: the device.
        group: the IOMMU group number, for display (``None`` if not known).
        iova_ranges: valid IOVA ranges of the container, half-open ``(start, end)``.
    """

    @property
    def container_fd(self) -> int: ...

    @property
    def group_fd(self) -> int: ...

    @property
    def device_fd(self) -> int: ...

    @property
    def group(self) -> int | None: ...

    @property
    def iova_ranges(self) -> tuple[tuple[int, int], ...]: ...

    def unmap_range(self, iova: int, size: int) -> int:
        """Remove every DMA mapping inside ``[iova, iova + size)``; return bytes removed."""
        ...

    def control_head(self, length: int) -> bytes:
        """The first ``length`` bytes of BAR2 of an emulated endpoint (ivshmem), read
        through the device fd: the ``identify`` op.

        Raises:
            DeviceNotFoundError: the function is not an ivshmem function.
            QatError: the read failed.
        """
        ...

    def pf_mailbox(self) -> MailboxWindow | None:
        """The PMISC BAR of a VF with a PF/VF mailbox, mapped through the device fd
        (the broker speaks on it for every holder: :mod:`qathw.broker.pf_owner`);
        ``None`` for a PF or a PF-style emulated endpoint.

        Raises:
            QatError: the BAR cannot be mapped or read.
        """
        ...

    def close(self) -> None:
        """Close the three fds."""
        ...


class FdSource(Protocol):
    """Opens endpoints for the broker (VFIO on a host; ordinary fds in host tests)."""

    def open(self, bdf: str) -> EndpointFds:
        """Open ``bdf`` (a canonical BDF, already checked for form).

        Raises:
            QatError: it cannot be opened; the error goes back to the client as is.
        """
        ...


@dataclass
class _Endpoint:
    bdf: str
    fds: EndpointFds | None = None
    error: str | None = None
    slots: set[int] = field(default_factory=set)  # slot numbers in use
    spoiled: set[int] = field(default_factory=set)  # slots whose unmap failed: never reused
    pf: PfOwner | None = None  # the broker speaks on a VF's mailbox for its holders
    pf_checked: bool = False  # whether the endpoint was asked for its mailbox


@dataclass
class _Client:
    sock: socket.socket
    pid: int
    uid: int
    since: float
    lease: int
    role: str | None = None  # None until hello
    allowed: bool = True  # SO_PEERCRED: this broker's uid or root
    slots: dict[str, int] = field(default_factory=dict)  # bdf -> slot number


class Broker:
    """One broker process's state and loop. :func:`serve` makes and runs one.

    Args:
        source: opens endpoints.
        runtime_dir: where ``broker.sock`` and ``broker.lock`` are.
        linger: seconds to stay after the last lease ended; negative: stay.
        slot_size: bytes of IOVA per lease and endpoint (a power of two).
        log: where to write one line per event.
        idle_exit: seconds to stay after the last activity while there was never a lease;
            negative: stay.
    """

    def __init__(
        self,
        source: FdSource,
        runtime_dir: Path,
        *,
        linger: float = DEFAULT_LINGER,
        slot_size: int = DEFAULT_SLOT_SIZE,
        log: TextIO | None = None,
        idle_exit: float = DEFAULT_IDLE_EXIT,
    ) -> None:
        if slot_size <= 0 or slot_size & (slot_size - 1):
            raise ValueError(f"IOVA slot size {slot_size:#x} is not a power of two")
        self.source = source
        self.runtime_dir = runtime_dir
        self.socket_path = runtime_dir / protocol.SOCKET_NAME
        self.linger = linger
        self.idle_exit = idle_exit
        self.slot_size = slot_size
        self.log = log if log is not None else sys.stderr
        self.started = time.time()
        self.endpoints: dict[str, _Endpoint] = {}
        self.clients: dict[int, _Client] = {}
        self.ended_leases = 0
        self.unmapped_bytes = 0
        self._next_lease = 1
        self._had_lease = False  # a holder said hello: from then on, linger applies
        self._quiet_since = time.monotonic()  # start, or when the last non-status client left
        self._listener: socket.socket | None = None
        self._bound: tuple[int, int] | None = None  # (st_dev, st_ino) of our socket file
        self._selector = selectors.DefaultSelector()
        self._stop = False
        # Signals arrive as a byte here (signal.set_wakeup_fd), so select() returns.
        self._wake_r, self._wake_w = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        for end in (self._wake_r, self._wake_w):
            end.setblocking(False)
            os.set_inheritable(end.fileno(), False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, "wake")

    # --- start and stop ------------------------------------------------------------------

    def bind(self) -> socket.socket:
        """Bind and listen on ``broker.sock`` (mode 0600), replacing a stale file.

        Call with ``broker.lock`` held: a socket file found then is a dead broker's.

        Raises:
            BrokerPermissionError: the path is taken by something that is not a socket.
            BrokerError: binding failed.
        """
        path = self.socket_path
        with contextlib.suppress(FileNotFoundError):
            st = os.lstat(path)
            if not stat.S_ISSOCK(st.st_mode):
                raise BrokerPermissionError(
                    f"{path} exists and is not a socket; not replacing it",
                    hint="remove it",
                    errno=errno.EEXIST,
                    path=path,
                )
            os.unlink(path)
            self._say(f"removed the stale socket {path} of a broker that ended")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
        old = os.umask(0o177)  # the socket file is born 0600: no window with wider access
        try:
            sock.bind(os.fspath(path))
            sock.listen(64)
        except OSError as exc:
            sock.close()
            raise BrokerError.from_oserror(exc, f"cannot listen on {path}") from exc
        finally:
            os.umask(old)
        st = os.lstat(path)
        self._bound = (st.st_dev, st.st_ino)
        sock.setblocking(False)
        self._listener = sock
        self._selector.register(sock, selectors.EVENT_READ, None)
        return sock

    def stop(self) -> None:
        """Ask the loop to end (from a signal handler)."""
        self._stop = True

    def close(self) -> None:
        """End every lease (unmapping its ranges), remove the socket, close every fd."""
        for fd in list(self.clients):
            self._drop(fd, "the broker is stopping")
        if self._listener is not None:
            self._selector.unregister(self._listener)
            self._unlink_socket()
            self._listener.close()
            self._listener = None
        for ep in self.endpoints.values():
            if ep.pf is not None:
                ep.pf.close()
                ep.pf = None
            if ep.fds is not None:
                ep.fds.close()
                ep.fds = None
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()

    def _unlink_socket(self) -> None:
        """Remove our socket file (not one a newer broker bound in its place)."""
        try:
            st = os.lstat(self.socket_path)
        except FileNotFoundError:
            return
        if (st.st_dev, st.st_ino) == self._bound:
            os.unlink(self.socket_path)

    # --- the loop ------------------------------------------------------------------------

    def run(self) -> None:
        """Serve until stopped, or until idle too long (:meth:`_time_left`)."""
        while not self._stop:
            timeout = self._time_left()
            if timeout is not None and timeout <= 0:
                if not self._accept_pending():
                    self._say(self._exit_reason())
                    return
                continue
            tick = self._pf_tick()
            if tick is not None:
                timeout = tick if timeout is None else min(timeout, tick)
            try:
                events = self._selector.select(timeout)
            except InterruptedError:
                continue
            for key, _ in events:
                if key.data == "wake":
                    with contextlib.suppress(OSError):
                        self._wake_r.recv(64)
                elif key.data is None:
                    self._accept()
                else:
                    self._readable(key.fd)

    def _time_left(self) -> float | None:
        """Seconds until the broker may exit; ``None`` while it must stay.

        The countdown runs only while no lease (nor a connection that may become one) is
        open, from the last time such a connection ended (or the start): ``linger`` once a
        holder has come, ``idle_exit`` before. Status connections do not touch it.
        """
        if self._has_leases():
            return None
        limit = self.linger if self._had_lease else self.idle_exit
        if limit < 0:
            return None
        return self._quiet_since + limit - time.monotonic()

    def _exit_reason(self) -> str:
        if self._had_lease:
            return "no lease left; exiting"
        return f"no holder came for {self.idle_exit:g} s; exiting"

    def _has_leases(self) -> bool:
        # A connection that has not said hello yet may be a holder: it keeps us up too.
        return any(c.allowed and c.role != protocol.ROLE_STATUS for c in self.clients.values())

    def _accept_pending(self) -> bool:
        """Accept connections already queued, so none is dropped by exiting."""
        before = len(self.clients)
        self._accept()
        return len(self.clients) > before

    def _accept(self) -> None:
        assert self._listener is not None
        while True:
            try:
                sock, _ = self._listener.accept()
            except BlockingIOError:
                return
            except OSError as exc:
                self._say(f"accept failed: {exc.strerror}")
                return
            sock.setblocking(False)
            pid, uid, _ = protocol.peer_credentials(sock)
            if len(self.clients) >= MAX_CLIENTS:
                with contextlib.suppress(OSError):
                    protocol.send(sock, protocol.error_body(BrokerError("too many connections")))
                sock.close()
                continue
            client = _Client(sock, pid, uid, time.time(), self._next_lease)
            # Another user is refused on its first message, once read: closing a socket
            # with unread data would reset the connection before the client sees why.
            client.allowed = uid in (os.geteuid(), 0)
            self._next_lease += 1
            self.clients[sock.fileno()] = client
            self._selector.register(sock, selectors.EVENT_READ, client)

    def _readable(self, fd: int) -> None:
        client = self.clients.get(fd)
        if client is None:
            return
        try:
            message = protocol.recv(client.sock, protocol.MAX_REQUEST, flags=socket.MSG_DONTWAIT)
        except BlockingIOError:
            return
        except protocol.MessageError as exc:
            if not client.allowed:
                self._refuse(client, self._stranger(client))
                return
            self._refuse(client, exc)
            return
        except OSError as exc:
            self._drop(fd, f"connection failed ({exc.strerror})")
            return
        if message is None:
            self._drop(fd, "connection closed")
            return
        if not client.allowed:
            protocol.close_all(message.fds)
            self._refuse(client, self._stranger(client))
            return
        if message.fds:
            protocol.close_all(message.fds)
            self._refuse(client, BrokerError("clients may not send file descriptors"))
            return
        try:
            reply, fds = self._handle(client, message.body)
        except _ProtocolViolationError as exc:
            self._refuse(client, exc.error)
            return
        except QatError as exc:
            reply, fds = protocol.error_body(exc), ()
        self._reply(client, reply, fds)

    def _reply(self, client: _Client, body: dict[str, Any], fds: tuple[int, ...] = ()) -> None:
        try:
            protocol.send(client.sock, body, fds)
        except BlockingIOError:
            self._drop(client.sock.fileno(), "its socket is full (it does not read)")
        except OSError as exc:
            self._drop(client.sock.fileno(), f"sending failed ({exc.strerror})")

    def _stranger(self, client: _Client) -> BrokerPermissionError:
        return BrokerPermissionError(
            f"uid {client.uid} may not use this broker (it serves uid {os.geteuid()} and root)",
            hint="use a broker of your own: set QATHW_RUNTIME_DIR to a directory of yours",
            errno=errno.EPERM,
            path=self.socket_path,
        )

    def _refuse(self, client: _Client, error: QatError) -> None:
        """A protocol violation: say why, then end that client (and its lease)."""
        self._say(f"lease {client.lease} (pid {client.pid}): {error.what}; closing it")
        with contextlib.suppress(OSError):
            protocol.send(client.sock, protocol.error_body(error))
        self._drop(client.sock.fileno(), "protocol violation")

    # --- requests ------------------------------------------------------------------------

    def _handle(
        self, client: _Client, body: dict[str, Any]
    ) -> tuple[dict[str, Any], tuple[int, ...]]:
        op = body.get("op")
        if client.role is None:
            if op != "hello":
                raise _ProtocolViolationError(BrokerError(f"expected hello first, got op {op!r}"))
            version = body.get("version")
            if version != protocol.VERSION:
                raise _ProtocolViolationError(
                    BrokerError(
                        f"protocol version {version!r}; this broker speaks {protocol.VERSION}",
                        hint="use the same qathw version in the broker and its holders",
                    )
                )
            role = body.get("role")
            if role not in (protocol.ROLE_HOLDER, protocol.ROLE_STATUS):
                raise _ProtocolViolationError(BrokerError(f"unknown role {role!r}"))
            client.role = role
            if role == protocol.ROLE_HOLDER:
                self._had_lease = True
                self._say(f"lease {client.lease}: pid {client.pid} uid {client.uid}")
            reply = {"ok": True, "version": protocol.VERSION, "pid": os.getpid()}
            return {**reply, "uid": os.geteuid(), "lease": client.lease}, ()
        if op == "lend":
            if client.role != protocol.ROLE_HOLDER:
                raise _ProtocolViolationError(BrokerError("a status connection cannot borrow"))
            bdf = body.get("bdf")
            if not protocol.valid_bdf(bdf):
                raise _ProtocolViolationError(
                    BrokerError(f"{str(bdf)[:40]!r} is not a PCI address")
                )
            assert isinstance(bdf, str)
            return self._lend(client, bdf)
        if op == "status":
            return {"ok": True, "status": self.status()}, ()
        if op == "pf_ack":
            return self._pf_ack(client, body), ()
        if op == "identify":
            bdf = body.get("bdf")
            if not protocol.valid_bdf(bdf):
                raise _ProtocolViolationError(
                    BrokerError(f"{str(bdf)[:40]!r} is not a PCI address")
                )
            assert isinstance(bdf, str)
            return self._identify(bdf), ()
        raise _ProtocolViolationError(BrokerError(f"unknown op {str(op)[:40]!r}"))

    def _lend(self, client: _Client, bdf: str) -> tuple[dict[str, Any], tuple[int, ...]]:
        ep = self.endpoints.get(bdf)
        if ep is None:
            if len(self.endpoints) >= MAX_CLIENTS:  # bound what strangers' BDFs can make us keep
                raise BrokerError("too many endpoints")
            ep = self.endpoints[bdf] = _Endpoint(bdf)
        if ep.fds is None:
            try:
                ep.fds = self.source.open(bdf)
                ep.error = None
                self._say(f"opened {bdf} (group {ep.fds.group})")
            except QatError as exc:
                ep.error = str(exc)
                self._say(f"cannot open {bdf}: {exc}")
                raise
            except Exception as exc:  # a bug in a source must not take every lease down
                ep.error = f"{type(exc).__name__}: {exc}"
                self._say(f"cannot open {bdf}:\n{traceback.format_exc()}")
                raise BrokerError(f"opening {bdf} failed in the broker: {ep.error}") from None
        slot = client.slots.get(bdf)
        if slot is None:
            slot = self._free_slot(ep)
            ep.slots.add(slot)
            client.slots[bdf] = slot
            base = slot * self.slot_size
            self._say(f"lease {client.lease}: {bdf} IOVA {base:#x}+{self.slot_size:#x}")
        fds = ep.fds
        reply = {
            "ok": True,
            "bdf": bdf,
            "group": fds.group,
            "iova_base": slot * self.slot_size,
            "iova_size": self.slot_size,
            "fds": ["container", "group", "device"],
            "pf": self._own_mailbox(ep),
        }
        return reply, (fds.container_fd, fds.group_fd, fds.device_fd)

    def _identify(self, bdf: str) -> dict[str, Any]:
        """BAR2's control-page head of an endpoint this broker has open.

        Never opens one: a status asker must not make the broker take a group, and an
        endpoint the broker does not hold is not one whose sysfs map it made fail.
        """
        ep = self.endpoints.get(bdf)
        if ep is None or ep.fds is None:
            raise DeviceNotFoundError(
                f"the section broker has not opened {bdf}",
                hint="it reads control pages only of endpoints its holders borrowed; "
                "another VFIO user may hold the function",
                errno=errno.ENODEV,
                path=bdf,
            )
        try:
            head = ep.fds.control_head(emulated.CONTROL_PAGE_SIZE)
        except QatError:
            raise
        except Exception as exc:  # a bug in a source must not take every lease down
            self._say(f"reading the control page of {bdf}:\n{traceback.format_exc()}")
            raise BrokerError(f"reading {bdf}'s control page failed in the broker: {exc}") from None
        return {"ok": True, "bdf": bdf, "head": bytes(head[: emulated.CONTROL_PAGE_SIZE]).hex()}

    # --- the PF/VF mailbox of lent VFs (qathw.broker.pf_owner) ---------------------------

    def _own_mailbox(self, ep: _Endpoint) -> dict[str, Any] | None:
        """Map a VF's mailbox and run its handshake, once; the lend reply's ``pf``.

        Raises:
            MailboxError: the PF did not answer (the lend fails; the next one retries).
            QatError: the BAR could not be mapped.
        """
        if ep.pf is not None:
            return ep.pf.facts
        if ep.pf_checked:
            return None  # no mailbox: a PF, or a PF-style emulated endpoint
        assert ep.fds is not None
        window = ep.fds.pf_mailbox()
        if window is None:
            ep.pf_checked = True
            return None
        owner = PfOwner(ep.bdf, window)
        try:
            facts = owner.handshake()
        except BaseException:
            owner.window.close()
            raise
        ep.pf, ep.pf_checked = owner, True
        self._say(f"{ep.bdf}: PF/VF handshake done for its holders: {facts}")
        return facts

    def _pf_tick(self) -> float | None:
        """Poll the mailboxes that are due and relay what came; seconds to the next poll."""
        soonest: float | None = None
        for ep in self.endpoints.values():
            owner = ep.pf
            if owner is None:
                continue
            left = owner.next_poll - time.monotonic()
            if left <= 0:
                leases = {c.lease for c in self.clients.values() if ep.bdf in c.slots}
                before = owner.handshakes
                try:
                    relayed = owner.poll(leases)
                except QatError as exc:  # keep serving the other endpoints
                    self._say(f"{ep.bdf}: polling its PF/VF mailbox failed: {exc}")
                    relayed = []
                if owner.handshakes > before:
                    self._say(f"{ep.bdf}: back after a restart; PF/VF handshake done again")
                for seq, name in relayed:
                    self._say(f"{ep.bdf}: PF says {name}; relaying it to {len(leases)} leases")
                    self._relay(ep.bdf, seq, name)
                left = owner.next_poll - time.monotonic()
            soonest = left if soonest is None else min(soonest, left)
        return None if soonest is None else max(soonest, 0.0)

    def _relay(self, bdf: str, seq: int, name: str) -> None:
        body = {"event": "pf", "bdf": bdf, "seq": seq, "name": name}
        for client in [c for c in self.clients.values() if bdf in c.slots]:
            self._reply(client, body)

    def _pf_ack(self, client: _Client, body: dict[str, Any]) -> dict[str, Any]:
        bdf, seq = body.get("bdf"), body.get("seq")
        if not protocol.valid_bdf(bdf) or not isinstance(seq, int):
            raise _ProtocolViolationError(BrokerError("pf_ack needs a PCI address and a seq"))
        assert isinstance(bdf, str)
        ep = self.endpoints.get(bdf)
        if ep is not None and ep.pf is not None and bdf in client.slots:
            ep.pf.acked(client.lease, seq)
        return {"ok": True}

    def _free_slot(self, ep: _Endpoint) -> int:
        assert ep.fds is not None
        ranges = ep.fds.iova_ranges
        top = max((end for _, end in ranges), default=0) // self.slot_size
        for k in range(1, top):  # slot 0 holds IOVA 0, which is never handed out
            if k in ep.slots or k in ep.spoiled:
                continue
            start, end = k * self.slot_size, (k + 1) * self.slot_size
            if any(lo <= start and end <= hi for lo, hi in ranges):
                return k
        raise BrokerError(
            f"no free IOVA range of {self.slot_size:#x} bytes on {ep.bdf} "
            f"({len(ep.slots)} leases use it)",
            hint="end some holders, or start the broker with a smaller --iova-slot",
        )

    # --- lease end -----------------------------------------------------------------------

    def _drop(self, fd: int, why: str) -> None:
        """End a connection; for a lease, unmap its range on every endpoint it borrowed."""
        client = self.clients.pop(fd, None)
        if client is None:
            return
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(client.sock)
        client.sock.close()
        if client.role == protocol.ROLE_STATUS or not client.allowed:
            return  # not a lease: the exit countdown does not restart for it
        self._quiet_since = time.monotonic()
        unmapped = 0
        for bdf, slot in client.slots.items():
            ep = self.endpoints[bdf]
            ep.slots.discard(slot)
            if ep.pf is not None:
                ep.pf.forget(client.lease)  # a restart no longer waits for it
            if ep.fds is None:
                continue
            base = slot * self.slot_size
            try:
                unmapped += ep.fds.unmap_range(base, self.slot_size)
            except Exception as exc:  # keep serving; never hand the range out again
                ep.spoiled.add(slot)
                self._say(f"lease {client.lease}: unmapping {bdf} IOVA {base:#x} failed: {exc}")
        self.ended_leases += 1
        self.unmapped_bytes += unmapped
        self._say(
            f"lease {client.lease} (pid {client.pid}) ended: {why}; "
            f"unmapped {unmapped:#x} bytes on {len(client.slots)} endpoints"
        )

    # --- status --------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """The status record (:class:`qathw.broker.client.BrokerStatus`'s ``to_dict``)."""
        holders = [c for c in self.clients.values() if c.role == protocol.ROLE_HOLDER]
        return {
            "pid": os.getpid(),
            "uid": os.geteuid(),
            "started": self.started,
            "socket": os.fspath(self.socket_path),
            "linger": self.linger,
            "endpoints": [
                {
                    "bdf": ep.bdf,
                    "group": ep.fds.group if ep.fds is not None else None,
                    "open": ep.fds is not None,
                    "leases": len(ep.slots),
                    "error": ep.error,
                }
                for ep in self.endpoints.values()
            ],
            "leases": [
                {
                    "lease": c.lease,
                    "pid": c.pid,
                    "uid": c.uid,
                    "since": c.since,
                    "ranges": [
                        {"bdf": bdf, "iova_base": k * self.slot_size, "iova_size": self.slot_size}
                        for bdf, k in c.slots.items()
                    ],
                }
                for c in holders
            ],
            "ended_leases": self.ended_leases,
            "unmapped_bytes": self.unmapped_bytes,
        }

    def _say(self, line: str) -> None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        with contextlib.suppress(OSError, ValueError):
            self.log.write(f"{stamp} qathw broker[{os.getpid()}]: {line}\n")
            self.log.flush()


class _ProtocolViolationError(Exception):
    def __init__(self, error: QatError) -> None:
        super().__init__(error.what)
        self.error = error


@contextlib.contextmanager
def _broker_lock(runtime_dir: Path) -> Iterator[int | None]:
    """Hold ``broker.lock`` for the broker's life; ``None`` when another broker holds it."""
    path = runtime_dir / protocol.LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise BrokerError.from_oserror(exc, f"cannot open the broker lock {path}") from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
            raise BrokerPermissionError(
                f"the broker lock {path} is not a regular file of this user",
                hint="remove it",
                path=path,
            )
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield None
            return
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield fd
    finally:
        os.close(fd)


def serve(
    source: FdSource,
    runtime_dir: Path,
    *,
    linger: float = DEFAULT_LINGER,
    slot_size: int = DEFAULT_SLOT_SIZE,
    log: TextIO | None = None,
    ready: Any = None,
    idle_exit: float = DEFAULT_IDLE_EXIT,
) -> int:
    """Run a broker in this process until its last lease ends (or SIGTERM/SIGINT).

    Args:
        source: opens endpoints.
        runtime_dir: where the socket, lock and log are (created 0700 if missing).
        linger: seconds to stay after the last lease ended; negative: until signalled.
        slot_size: bytes of IOVA per lease and endpoint.
        log: where events are written (stderr by default).
        ready: called with the pid once the socket listens (``qathw broker`` without
            ``--foreground`` forks there).
        idle_exit: seconds to stay after the last activity while no holder ever came;
            negative: until signalled.

    Returns:
        The exit code: 0, also when another broker already serves this directory.

    Raises:
        BrokerPermissionError: the directory or a file in it is not this user's.
        BrokerError: the socket cannot be bound.
    """
    make_private_dir(runtime_dir)
    broker = Broker(
        source, runtime_dir, linger=linger, slot_size=slot_size, log=log, idle_exit=idle_exit
    )
    with _broker_lock(runtime_dir) as held:
        if held is None:
            # Lost the start race: the winner serves, and this one's clients connect to it.
            broker.close()
            return 0
        broker.bind()
        if ready is not None:
            ready(os.getpid())
        broker._say(
            f"serving {broker.socket_path} (linger {linger:g} s, idle exit {idle_exit:g} s)"
        )
        previous = {sig: signal.signal(sig, lambda *_: broker.stop()) for sig in _STOP_SIGNALS}
        old_wakeup = signal.set_wakeup_fd(broker._wake_w.fileno(), warn_on_full_buffer=False)
        try:
            broker.run()
        finally:
            signal.set_wakeup_fd(old_wakeup)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            broker.close()
    return 0


_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
