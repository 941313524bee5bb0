"""Borrow a VFIO endpoint's fds from the section broker: :func:`connect`, :func:`status`.

A VFIO group is open in one process at a time, so processes that share one endpoint's
banks (sections of the same function) cannot each open it. The section broker
(:mod:`qathw.broker.server`) opens every endpoint's container, group and device once and
lends the three fds over a Unix socket (``SCM_RIGHTS``), as DPDK's multi-process primary
does. One connection is one *lease*: when the holder ends — ``close()``, exit, ``kill -9``
— the kernel closes the connection and the broker unmaps everything the lease mapped
inside its IOVA range. There is no pid file and nothing to clean up.

With ``start=True`` (the default) :func:`connect` starts a broker when none runs:
``python -m qathw.broker`` (the lean entry point: no CLI imports) detached, its stderr in
``broker.log`` next to the socket, and it exits shortly after its last lease ends
(docs/design.md#section-broker). One client at a time starts a broker — the one holding
``spawn.lock`` — so holders starting together share one broker. The wait for a new
broker is generous (``$QATHW_BROKER_START_TIMEOUT``, default 60 s: a TCG guest needs
seconds for a Python start) and ends early, with its log's tail, when it dies.

Trust: the socket is in the caller's private runtime directory (mode 0700) and both ends
check the other's uid with ``SO_PEERCRED``: a broker accepts its own user and root, a
client accepts a broker of its own user or root.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from qathw import errors
from qathw.broker import protocol
from qathw.broker.rundir import default_runtime_dir, lock_holder, make_private_dir, spawn_lock
from qathw.errors import (
    BrokerError,
    BrokerGoneError,
    BrokerPermissionError,
    BrokerUnavailableError,
    QatError,
)
from qathw.paths import HostRoot
from qathw.transport.pfvf import PfFacts

_POLL_INTERVAL = 0.02  # between connect attempts while a broker starts
ENV_START_TIMEOUT = "QATHW_BROKER_START_TIMEOUT"
DEFAULT_START_TIMEOUT = 60.0  # seconds; a TCG guest takes several just to start Python
_LOG_LIMIT = 64 * 1024
_LOG_TAIL = 5  # lines of broker.log quoted when a broker could not start


@dataclass(frozen=True)
class LentEndpoint:
    """One endpoint's fds, lent for the life of a :class:`BrokerSession`.

    The fds belong to the session: :meth:`BrokerSession.close` closes them. They are
    close-on-exec.

    Attributes:
        bdf: the PCI function, e.g. ``0000:3d:01.0``.
        container_fd: the endpoint's VFIO container, shared with the other holders: map
            DMA memory into it (``VFIO_IOMMU_MAP_DMA`` pins this process's pages and
            charges this process's ``RLIMIT_MEMLOCK``), only inside the IOVA range.
        group_fd: the VFIO group (already attached to the container, IOMMU set).
        device_fd: the VFIO device: map the register BAR through it, program only the
            banks of this process's section.
        iova_base: first IOVA of this lease's range on this endpoint.
        iova_size: bytes in the range; the broker unmaps ``[base, base + size)`` when the
            lease ends.
        group: the endpoint's IOMMU group number (``None`` if the broker did not say).
        pf: for a VF with a PF/VF mailbox, what the broker's handshake with the PF found;
            the broker alone speaks on that mailbox, so the holder must not (``None``:
            no mailbox, nothing to skip).
    """

    bdf: str
    container_fd: int
    group_fd: int
    device_fd: int
    iova_base: int
    iova_size: int
    group: int | None = None
    pf: PfFacts | None = None

    @property
    def iova_end(self) -> int:
        """One past the last IOVA of the range."""
        return self.iova_base + self.iova_size


@dataclass(frozen=True)
class EndpointStatus:
    """One endpoint the broker opened.

    Attributes:
        bdf: the PCI function.
        group: its IOMMU group.
        open: whether the broker holds its fds now.
        leases: how many live leases borrowed it.
        error: why the last attempt to open it failed, if it did.
    """

    bdf: str
    group: int | None
    open: bool
    leases: int
    error: str | None = None


@dataclass(frozen=True)
class LeaseRange:
    """The IOVA range of one lease on one endpoint."""

    bdf: str
    iova_base: int
    iova_size: int


@dataclass(frozen=True)
class LeaseStatus:
    """One live lease (one holder connection).

    Attributes:
        lease: the broker's number for it.
        pid: the holder's pid as ``SO_PEERCRED`` gave it at connect (for display only).
        uid: the holder's uid.
        since: when it connected (seconds since the epoch).
        ranges: the endpoints it borrowed and its IOVA range on each.
    """

    lease: int
    pid: int
    uid: int
    since: float
    ranges: tuple[LeaseRange, ...]


@dataclass(frozen=True)
class BrokerStatus:
    """What ``qathw sections`` shows of a running broker.

    Attributes:
        pid: the broker's pid.
        uid: its uid.
        started: when it started (seconds since the epoch).
        socket: the socket's path.
        linger: seconds it stays after its last lease ends (negative: forever).
        endpoints: the endpoints it opened.
        leases: the live leases.
        ended_leases: leases that ended since it started.
        unmapped_bytes: bytes of DMA mappings it removed for ended leases.
    """

    pid: int
    uid: int
    started: float
    socket: str
    linger: float
    endpoints: tuple[EndpointStatus, ...]
    leases: tuple[LeaseStatus, ...]
    ended_leases: int = 0
    unmapped_bytes: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The JSON record (``qathw sections --json``'s ``broker``)."""
        return {
            "pid": self.pid,
            "uid": self.uid,
            "started": self.started,
            "socket": self.socket,
            "linger": self.linger,
            "endpoints": [
                {
                    "bdf": e.bdf,
                    "group": e.group,
                    "open": e.open,
                    "leases": e.leases,
                    "error": e.error,
                }
                for e in self.endpoints
            ],
            "leases": [
                {
                    "lease": lease.lease,
                    "pid": lease.pid,
                    "uid": lease.uid,
                    "since": lease.since,
                    "ranges": [
                        {"bdf": r.bdf, "iova_base": r.iova_base, "iova_size": r.iova_size}
                        for r in lease.ranges
                    ],
                }
                for lease in self.leases
            ],
            "ended_leases": self.ended_leases,
            "unmapped_bytes": self.unmapped_bytes,
        }

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> BrokerStatus:
        """Read :meth:`to_dict`'s record back.

        Raises:
            BrokerError: the record is not one.
        """
        try:
            return cls(
                pid=int(doc["pid"]),
                uid=int(doc["uid"]),
                started=float(doc["started"]),
                socket=str(doc["socket"]),
                linger=float(doc["linger"]),
                endpoints=tuple(
                    EndpointStatus(
                        bdf=str(e["bdf"]),
                        group=None if e["group"] is None else int(e["group"]),
                        open=bool(e["open"]),
                        leases=int(e["leases"]),
                        error=None if e.get("error") is None else str(e["error"]),
                    )
                    for e in doc["endpoints"]
                ),
                leases=tuple(
                    LeaseStatus(
                        lease=int(lease["lease"]),
                        pid=int(lease["pid"]),
                        uid=int(lease["uid"]),
                        since=float(lease["since"]),
                        ranges=tuple(
                            LeaseRange(str(r["bdf"]), int(r["iova_base"]), int(r["iova_size"]))
                            for r in lease["ranges"]
                        ),
                    )
                    for lease in doc["leases"]
                ),
                ended_leases=int(doc.get("ended_leases", 0)),
                unmapped_bytes=int(doc.get("unmapped_bytes", 0)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise BrokerError(
                f"the broker sent a status record this client cannot read ({exc})"
            ) from None


@dataclass
class _Lent:
    endpoint: LentEndpoint
    fds: tuple[int, ...] = field(default=())


class BrokerSession:
    """One connection to the broker, which is one lease. Made by :func:`connect`.

    Not thread-safe: one request at a time (callers serialise, as the section layer
    does).

    Attributes:
        broker_pid: the broker's pid.
        lease: the broker's number for this lease.
        socket_path: the socket connected to.
    """

    def __init__(self, sock: socket.socket, path: Path, broker_pid: int, lease: int) -> None:
        self._sock: socket.socket | None = sock
        self.socket_path = path
        self.broker_pid = broker_pid
        self.lease = lease
        self._lent: dict[str, _Lent] = {}
        self._pf_events: list[tuple[str, int, str]] = []  # (bdf, seq, name), relayed
        self._ended = False  # end of stream seen while reading relayed events

    def lend(self, bdf: str) -> LentEndpoint:
        """Borrow ``bdf``'s container, group and device fds, and this lease's IOVA range.

        The same ``bdf`` gives the same answer (the same fds) for the life of the session.

        Args:
            bdf: the PCI function, canonical form (``0000:3d:01.0``).

        Returns:
            The lent endpoint; its fds are closed by :meth:`close`.

        Raises:
            ValueError: ``bdf`` is not a canonical PCI address.
            BrokerGoneError: the broker ended (this session's leases are void).
            VfioGroupBusyError, VfioPermissionError, VfioGroupNotViableError, NoIommuError,
            DeviceNotFoundError, VfioError: the broker could not open the endpoint; the
                error is the one it met, with its hint.
            BrokerError: the broker refused, or answered out of protocol.
        """
        if not protocol.valid_bdf(bdf):
            raise ValueError(f"{bdf!r} is not a PCI address like 0000:3d:01.0")
        known = self._lent.get(bdf)
        if known is not None:
            return known.endpoint
        reply = self._request({"op": "lend", "bdf": bdf}, want_fds=3)
        body, fds = reply.body, reply.fds
        try:
            names = body.get("fds")
            if names != ["container", "group", "device"] or len(fds) != 3:
                raise BrokerError(f"the broker lent {len(fds)} fds for {bdf}, not 3")
            group = body.get("group")
            endpoint = LentEndpoint(
                bdf=bdf,
                group=None if group is None else int(group),
                container_fd=fds[0],
                group_fd=fds[1],
                device_fd=fds[2],
                iova_base=int(body["iova_base"]),
                iova_size=int(body["iova_size"]),
                pf=PfFacts.from_record(body.get("pf")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            protocol.close_all(fds)
            raise BrokerError(f"the broker's answer for {bdf} is malformed ({exc})") from None
        except BaseException:
            protocol.close_all(fds)
            raise
        self._lent[bdf] = _Lent(endpoint, fds)
        return endpoint

    @property
    def lent(self) -> tuple[LentEndpoint, ...]:
        """The endpoints borrowed so far."""
        return tuple(entry.endpoint for entry in self._lent.values())

    def status(self) -> BrokerStatus:
        """The broker's status, asked over this connection.

        Raises:
            BrokerGoneError: the broker ended.
            BrokerError: it answered out of protocol.
        """
        reply = self._request({"op": "status"})
        doc = reply.body.get("status")
        if not isinstance(doc, dict):
            raise BrokerError("the broker's status answer has no status record")
        return BrokerStatus.from_dict(doc)

    def identify(self, bdf: str, length: int) -> bytes:
        """BAR2's first bytes of an emulated endpoint the broker has open (``identify``).

        Args:
            bdf: the ivshmem function, canonical form.
            length: the bytes expected (the control page's size); any other count is a
                protocol error.

        Returns:
            The bytes as the endpoint wrote them: parse them, do not trust them.

        Raises:
            ValueError: ``bdf`` is not a canonical PCI address.
            DeviceNotFoundError: the broker has not opened ``bdf``, or it is no ivshmem
                function.
            BrokerGoneError: the broker ended.
            BrokerError, VfioError: it refused, failed or answered out of protocol.
        """
        if not protocol.valid_bdf(bdf):
            raise ValueError(f"{bdf!r} is not a PCI address like 0000:3d:01.0")
        head = self._request({"op": "identify", "bdf": bdf}).body.get("head")
        try:
            data = bytes.fromhex(head) if isinstance(head, str) else None
        except ValueError:
            data = None
        if data is None or len(data) != length:
            raise BrokerError(f"the broker's control page of {bdf} is malformed")
        return data

    def alive(self) -> bool:
        """Whether the broker still holds this lease; never blocks.

        The broker's only unprompted messages are relayed PF notifications (kept for
        :meth:`pf_events`); end of stream or a reset means it ended.

        Returns:
            False once the session is closed or the broker is gone.
        """
        if self._sock is None:
            return False
        self._take_unprompted()
        return not self._ended

    def pf_events(self, bdf: str) -> list[tuple[int, str]]:
        """PF notifications the broker relayed for ``bdf`` and not taken yet; never blocks.

        Returns:
            ``(sequence number, event name)`` in order: ``restarting``, ``restarted``,
            ``fatal error`` (:class:`qathw.transport.mailbox.PfEvent` values).
        """
        if self._sock is not None:
            self._take_unprompted()
        mine = [(seq, name) for b, seq, name in self._pf_events if b == bdf]
        self._pf_events = [e for e in self._pf_events if e[0] != bdf]
        return mine

    def pf_ack(self, bdf: str, seq: int) -> None:
        """Tell the broker this process quiesced after relayed RESTARTING ``seq`` of ``bdf``
        (the broker sends RESTARTING_COMPLETE once every holder has).

        Raises:
            BrokerGoneError: the broker ended.
            BrokerError: it refused.
        """
        self._request({"op": "pf_ack", "bdf": bdf, "seq": seq})

    def _take_unprompted(self) -> None:
        sock = self._sock
        assert sock is not None
        while not self._ended:
            try:
                message = protocol.recv(sock, protocol.MAX_REPLY, flags=socket.MSG_DONTWAIT)
            except BlockingIOError:
                return
            except protocol.MessageError:
                continue  # not ours to parse here; the broker is still there
            except OSError:
                self._ended = True  # reset: the broker is gone
                return
            if message is None:
                self._ended = True
                return
            protocol.close_all(message.fds)
            self._keep_event(message.body)

    def _keep_event(self, body: dict[str, Any]) -> bool:
        """Queue a relayed PF notification; whether ``body`` was one."""
        if body.get("event") != "pf":
            return False
        bdf, seq, name = body.get("bdf"), body.get("seq"), body.get("name")
        if isinstance(bdf, str) and isinstance(seq, int) and isinstance(name, str):
            self._pf_events.append((bdf, seq, name))
        return True

    def fileno(self) -> int:
        """The connection's fd, for ``poll``/``epoll``: it becomes readable (HUP) when the
        broker ends.

        Raises:
            BrokerError: the session is closed.
        """
        if self._sock is None:
            raise BrokerError("the broker session is closed")
        return self._sock.fileno()

    @property
    def closed(self) -> bool:
        return self._sock is None

    def close(self) -> None:
        """End the lease: close every lent fd and the connection (idempotent).

        The broker then unmaps whatever this process mapped inside its IOVA ranges.
        """
        for entry in self._lent.values():
            protocol.close_all(entry.fds)
        self._lent.clear()
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> BrokerSession:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_sock", None) is not None:
            self.close()

    def _gone(self, detail: str) -> BrokerGoneError:
        return BrokerGoneError(
            f"the section broker (pid {self.broker_pid}) ended ({detail}); your leases are void",
            hint="restart the process: its DMA mappings were removed with the broker; "
            "a new broker starts on the next user_start",
            errno=errno.EPIPE,
            path=self.socket_path,
        )

    def _request(self, body: dict[str, Any], *, want_fds: int = 0) -> protocol.Message:
        if self._sock is None:
            raise BrokerError("the broker session is closed", hint="connect again")
        try:
            protocol.send(self._sock, body)
            reply = protocol.recv(self._sock, protocol.MAX_REPLY)
            while reply is not None and self._keep_event(reply.body):
                protocol.close_all(reply.fds)  # a relayed notification came first
                reply = protocol.recv(self._sock, protocol.MAX_REPLY)
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise self._gone(exc.strerror or "connection reset") from None
        except protocol.MessageError as exc:
            raise BrokerError(f"the broker answered out of protocol: {exc.what}") from None
        if reply is None:
            raise self._gone("its socket closed")
        if not reply.body.get("ok"):
            protocol.close_all(reply.fds)
            raise _error_from(reply.body)
        if len(reply.fds) != want_fds:
            protocol.close_all(reply.fds)
            raise BrokerError(f"the broker sent {len(reply.fds)} fds where {want_fds} were due")
        return reply


# Classes a broker may name in a refusal; anything else becomes a BrokerError.
_REMOTE_ERRORS: dict[str, type[QatError]] = {
    cls.__name__: cls
    for cls in (
        errors.BrokerError,
        errors.BrokerPermissionError,
        errors.BrokerUnavailableError,
        errors.DeviceError,
        errors.DeviceNotFoundError,
        errors.DeviceAccessError,
        errors.DmaError,
        errors.MailboxError,
        errors.VfioError,
        errors.VfioGroupBusyError,
        errors.VfioGroupNotViableError,
        errors.VfioPermissionError,
        errors.NoIommuError,
    )
}


def _error_from(body: dict[str, Any]) -> QatError:
    err = body.get("error")
    if not isinstance(err, dict):
        return BrokerError("the broker refused without saying why")
    cls = _REMOTE_ERRORS.get(str(err.get("class")), BrokerError)
    code = err.get("errno")
    path = err.get("path")
    return cls(
        f"section broker: {err.get('what') or 'refused'}",
        hint=str(err["hint"]) if err.get("hint") else None,
        errno=code if isinstance(code, int) else None,
        path=str(path) if isinstance(path, str) else None,
    )


# --- finding, starting and connecting ----------------------------------------------------


def socket_path(
    host: HostRoot | None = None, runtime_dir: str | os.PathLike[str] | None = None
) -> Path:
    """The broker socket's path for ``host``.

    Args:
        host: the host root; ``$QATHW_SYSFS_ROOT`` or ``/``.
        runtime_dir: the runtime directory; default as the sections use it.

    Returns:
        ``<runtime dir>/broker.sock``.
    """
    rdir = Path(runtime_dir) if runtime_dir is not None else default_runtime_dir(host)
    return rdir / protocol.SOCKET_NAME


def broker_command(host: HostRoot, runtime_dir: Path) -> list[str]:
    """The command :func:`connect` runs to start a broker: ``python -m qathw.broker ...``.

    The broker's own entry point, not ``python -m qathw broker``: that one imports every
    command of the CLI first, which takes longer than the broker's whole start on a slow
    machine.
    """
    return [
        sys.executable,
        "-m",
        "qathw.broker",
        "--foreground",  # detached by connect() itself; its exit status then means something
        "--sysfs-root",
        str(host.prefix),
        "--runtime-dir",
        str(runtime_dir),
    ]


def start_timeout() -> float:
    """Seconds :func:`connect` waits for a broker it starts: ``$QATHW_BROKER_START_TIMEOUT``
    or :data:`DEFAULT_START_TIMEOUT`.

    Raises:
        BrokerUnavailableError: the variable is set but not a positive number.
    """
    text = os.environ.get(ENV_START_TIMEOUT, "").strip()
    if not text:
        return DEFAULT_START_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise BrokerUnavailableError(
            f"${ENV_START_TIMEOUT} is {text!r}, not a positive number of seconds",
            hint=f"unset it (default {DEFAULT_START_TIMEOUT:g} s) or give e.g. 120",
            errno=errno.EINVAL,
        )
    return value


def connect(
    host: HostRoot | None = None,
    *,
    start: bool = True,
    timeout: float | None = None,
    runtime_dir: str | os.PathLike[str] | None = None,
    command: Sequence[str] | None = None,
) -> BrokerSession:
    """Open a lease with the section broker, starting one if none runs.

    Of clients that find no broker at once, one at a time (the holder of ``spawn.lock``)
    looks again and starts one if still none answers; the others wait for that lock and
    then find the broker it started.

    Args:
        host: the host root whose endpoints are borrowed; ``$QATHW_SYSFS_ROOT`` or ``/``.
        start: start a broker when none answers (detached; it exits after its last lease).
        timeout: seconds to wait for a starting broker, counted from the call; default
            :func:`start_timeout`.
        runtime_dir: where the socket is; default as the sections use it.
        command: the command that starts a broker (default :func:`broker_command`); tests
            give one with a fake fd source.

    Returns:
        The session; close it (or exit) to end the lease.

    Raises:
        BrokerUnavailableError: no broker runs (``start=False``), or the one started died
            or gave no answer in time (the message quotes its log).
        BrokerPermissionError: the socket, the directory or the broker belongs to another
            user.
        BrokerError: the broker answered out of protocol.
    """
    host = host if host is not None else HostRoot.from_env()
    rdir = Path(runtime_dir) if runtime_dir is not None else default_runtime_dir(host)
    path = rdir / protocol.SOCKET_NAME
    session, last = _try_session(path, protocol.ROLE_HOLDER)
    if session is not None:
        return session
    if not start:
        raise BrokerUnavailableError(
            f"no section broker runs at {path} ({last})",
            hint="start one with 'qathw broker', or let user_start start it",
            path=path,
        )
    wait = timeout if timeout is not None else start_timeout()
    deadline = time.monotonic() + wait
    argv = list(command) if command is not None else broker_command(host, rdir)
    make_private_dir(rdir)  # the lock and the log live there
    with spawn_lock(rdir, deadline) as held:
        # Whoever held the lock before us started a broker, most likely: look again.
        session, last = _try_session(path, protocol.ROLE_HOLDER)
        if session is not None:
            return session
        if not held:
            raise _start_failed(
                path, rdir, f"another process was starting it, with no answer in {wait:g} s"
            )
        return _start_and_wait(path, rdir, argv, deadline, wait)


def _start_and_wait(
    path: Path, rdir: Path, argv: list[str], deadline: float, wait: float
) -> BrokerSession:
    """Start a broker (``spawn.lock`` held) and connect to it once it listens.

    Raises:
        BrokerUnavailableError: it exited with no broker serving, or gave no answer by
            ``deadline``.
    """
    child = _spawn(argv, rdir)
    while True:
        session, last = _try_session(path, protocol.ROLE_HOLDER)
        if session is not None:
            return session
        code = child.poll()
        # Exit 0 with broker.lock held by a live process: ours lost to a broker started
        # without the spawn lock ('qathw broker' by hand), which is binding; wait for it.
        if code is not None and (code != 0 or lock_holder(rdir) is None):
            raise _start_failed(path, rdir, f"it (pid {child.pid}) exited with status {code}")
        if time.monotonic() >= deadline:
            raise _start_failed(
                path,
                rdir,
                f"no answer within {wait:g} s ({last})",
                hint=f"it may only be slow to start (pid {child.pid}): raise "
                f"${ENV_START_TIMEOUT}, or run 'qathw doctor' for the reason",
            )
        time.sleep(_POLL_INTERVAL)


def status(
    host: HostRoot | None = None, *, runtime_dir: str | os.PathLike[str] | None = None
) -> BrokerStatus | None:
    """The running broker's status, without starting one (``qathw sections``).

    Args:
        host: the host root; ``$QATHW_SYSFS_ROOT`` or ``/``.
        runtime_dir: where the socket is; default as the sections use it.

    Returns:
        The status, or ``None`` when no broker runs.

    Raises:
        BrokerPermissionError: the socket or the broker belongs to another user.
        BrokerError: the broker answered out of protocol.
    """
    path = socket_path(host, runtime_dir)
    session, _ = _try_session(path, protocol.ROLE_STATUS)
    if session is None:
        return None
    with session:
        try:
            return session.status()
        except BrokerGoneError:
            return None  # it exited between hello and status: none runs now


def control_head(
    bdf: str,
    length: int,
    host: HostRoot | None = None,
    *,
    runtime_dir: str | os.PathLike[str] | None = None,
) -> bytes | None:
    """An emulated endpoint's control-page head as the running broker reads it, without
    starting one (discovery, when the kernel refuses the sysfs map of a BAR vfio-pci
    claimed for the broker's holders).

    Args:
        bdf: the ivshmem function, canonical form.
        length: bytes expected.
        host: the host root; ``$QATHW_SYSFS_ROOT`` or ``/``.
        runtime_dir: where the socket is; default as the sections use it.

    Returns:
        The bytes (unchecked), or ``None`` when no broker runs.

    Raises:
        DeviceNotFoundError: the broker has not opened ``bdf``, or it is not ivshmem.
        BrokerPermissionError: the socket or the broker belongs to another user.
        BrokerError, VfioError: the broker refused, failed or answered out of protocol.
    """
    path = socket_path(host, runtime_dir)
    session, _ = _try_session(path, protocol.ROLE_STATUS)
    if session is None:
        return None
    with session:
        try:
            return session.identify(bdf, length)
        except BrokerGoneError:
            return None  # it exited between hello and the answer: none runs now


def _try_session(path: Path, role: str) -> tuple[BrokerSession | None, str]:
    """Connect and say hello; ``(None, why)`` when no broker answers there (yet)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
    try:
        try:
            sock.connect(os.fspath(path))
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            sock.close()
            return None, exc.strerror or "no socket"
        except PermissionError as exc:
            sock.close()
            raise BrokerPermissionError(
                f"cannot connect to the section broker at {path}: permission denied",
                hint="the socket belongs to another user; run as that user, or set "
                "QATHW_RUNTIME_DIR to a directory of your own",
                errno=exc.errno,
                path=path,
            ) from None
        _, uid, _ = protocol.peer_credentials(sock)
        if uid not in (os.geteuid(), 0):
            sock.close()
            raise BrokerPermissionError(
                f"the process behind {path} runs as uid {uid}, not as this user or root; "
                "not trusting it",
                hint=f"remove {path} and let a broker of your own start",
                errno=errno.EPERM,
                path=path,
            )
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            # A broker that refuses us says why and closes at once: read that below.
            protocol.send(sock, {"op": "hello", "version": protocol.VERSION, "role": role})
        try:
            reply = protocol.recv(sock, protocol.MAX_REPLY)
        except ConnectionResetError as exc:
            sock.close()
            return None, f"the broker closed the connection ({exc.strerror})"
        if reply is None:
            # A broker that is exiting after its last lease: a new one will take over.
            sock.close()
            return None, "the broker closed the connection"
        protocol.close_all(reply.fds)
        if not reply.body.get("ok"):
            sock.close()
            raise _error_from(reply.body)
        try:
            return BrokerSession(sock, path, int(reply.body["pid"]), int(reply.body["lease"])), ""
        except (KeyError, TypeError, ValueError):
            sock.close()
            raise BrokerError("the broker's hello is malformed") from None
    except BaseException:
        if sock.fileno() >= 0:
            sock.close()
        raise


def _spawn(argv: list[str], rdir: Path) -> subprocess.Popen[bytes]:
    """Start a broker detached: own session, no terminal, stderr appended to its log."""
    log = rdir / protocol.LOG_NAME
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        if log.is_file() and log.stat().st_size > _LOG_LIMIT:
            flags |= os.O_TRUNC  # keep the log short: only recent starts matter to doctor
        err = os.open(log, flags, 0o600)
    except OSError as exc:
        raise BrokerUnavailableError.from_oserror(
            exc,
            f"cannot start the section broker: cannot write its log {log}",
            hint="set QATHW_RUNTIME_DIR to a private directory you can write",
        ) from exc
    try:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
            close_fds=True,
        )
    except OSError as exc:
        raise BrokerUnavailableError.from_oserror(
            exc, f"cannot start the section broker ({argv[0]})"
        ) from exc
    finally:
        os.close(err)


def log_tail(runtime_dir: Path, lines: int = _LOG_TAIL) -> list[str]:
    """The last lines of the broker's log in ``runtime_dir`` (empty if there is none)."""
    try:
        with open(runtime_dir / protocol.LOG_NAME, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 8192))
            text = f.read().decode(errors="replace")
    except OSError:
        return []
    return [line for line in text.splitlines() if line.strip()][-lines:]


def _start_failed(
    path: Path, rdir: Path, why: str, *, hint: str | None = None
) -> BrokerUnavailableError:
    tail = log_tail(rdir)
    said = f"; its log says: {' | '.join(tail)}" if tail else ""
    return BrokerUnavailableError(
        f"the section broker did not start at {path}: {why}{said}",
        hint=hint
        or "run 'qathw doctor' for the reason, or 'qathw broker --foreground' to see it fail",
        path=path,
    )
