"""The section broker's wire format: one JSON object per packet, fds by SCM_RIGHTS.

The socket is ``AF_UNIX``/``SOCK_SEQPACKET``: the kernel keeps message boundaries, so a
message is one packet holding one JSON object (a line ending in ``\\n``), and the file
descriptors of a reply travel in the same packet (``SCM_RIGHTS``) — they can never be
attributed to the wrong message. A packet longer than the reader's bound arrives
truncated (``MSG_TRUNC``), which the reader reports instead of parsing half a message.

Conversation (version 1), client first::

    {"op": "hello", "version": 1, "role": "holder" | "status"}
        -> {"ok": true, "version": 1, "pid": P, "uid": U, "lease": N}
    {"op": "lend", "bdf": "0000:3d:01.0"}
        -> {"ok": true, "bdf": ..., "group": G, "iova_base": B, "iova_size": S,
            "fds": ["container", "group", "device"],
            "pf": null | {"version": V, "capabilities": C, "ring_service_map": M}}
                                                           + 3 fds; "pf": the broker's one
                                                           PF/VF handshake for a VF
    {"op": "pf_ack", "bdf": ..., "seq": N}                  (holder: quiesced after the
        -> {"ok": true}                                    relayed RESTARTING numbered N)

The broker's one unprompted message, to every lease holding a VF (qathw.broker.pf_owner)::

    {"event": "pf", "bdf": ..., "seq": N, "name": "restarting" | "restarted" | "fatal error"}
    {"op": "status"}
        -> {"ok": true, "status": {...}}                   (see qathw.broker.client)
    {"op": "identify", "bdf": "0000:00:10.0"}              (either role)
        -> {"ok": true, "bdf": ..., "head": HEX}            BAR2's first CONTROL_PAGE_SIZE
                                                           bytes, of an ivshmem function
                                                           the broker has open

``identify`` exists because once vfio-pci has claimed an ivshmem function's BARs (a
holder mapped them), the kernel refuses the sysfs mmap of ``resource2`` that discovery
uses (``pci_mmap_resource``: ``iomem_is_exclusive`` under ``CONFIG_IO_STRICT_DEVMEM``);
the broker reads the control page through its device fd instead. The bytes are the
endpoint's: the asker parses them (:func:`qathw.emulated.read_control`), never trusts them.

Any refusal is ``{"ok": false, "error": {"class": C, "what": ..., "hint": ...,
"errno": ..., "path": ...}}`` where ``C`` names a class of :mod:`qathw.errors`; a
malformed message gets one and the connection is closed. A ``holder`` connection is a
lease: it ends when the connection does.
"""

from __future__ import annotations

import array
import json
import os
import re
import socket
import struct
from dataclasses import dataclass
from typing import Any

from qathw.errors import BrokerError, QatError

VERSION = 1
SOCKET_NAME = "broker.sock"
LOCK_NAME = "broker.lock"
LOG_NAME = "broker.log"
SPAWN_LOCK_NAME = "spawn.lock"  # held by the one client starting a broker (flock)

MAX_REQUEST = 4096  # a client message: a few short fields; anything longer is refused
MAX_REPLY = 1 << 20  # a status reply with many leases still fits
MAX_FDS = 3  # container, group, device

_UCRED = struct.Struct("=iII")  # struct ucred: pid_t pid; uid_t uid; gid_t gid

ROLE_HOLDER = "holder"
ROLE_STATUS = "status"

# A PCI address as the kernel writes it in sysfs: domain:bus:device.function.
_BDF = re.compile(r"[0-9a-f]{4}:[0-9a-f]{2}:[0-1][0-9a-f]\.[0-7]")


def valid_bdf(text: object) -> bool:
    """Whether ``text`` is a canonical lower-case BDF (``0000:3d:01.0``), nothing more."""
    return isinstance(text, str) and _BDF.fullmatch(text) is not None


@dataclass(frozen=True)
class Message:
    """One received message.

    Attributes:
        body: the decoded JSON object.
        fds: descriptors that came with it (owned by the receiver: close them).
    """

    body: dict[str, Any]
    fds: tuple[int, ...] = ()


class MessageError(BrokerError):
    """A packet that is not a message of this protocol (too long, not JSON, not an object)."""


def send(sock: socket.socket, body: dict[str, Any], fds: tuple[int, ...] = ()) -> None:
    """Send one message, with ``fds`` attached to it.

    Args:
        sock: a connected ``SOCK_SEQPACKET`` socket.
        body: a JSON-serialisable object.
        fds: descriptors to pass (the sender keeps its own copies).

    Raises:
        OSError: the peer is gone (``EPIPE``), or a non-blocking socket is full.
    """
    data = (json.dumps(body, separators=(",", ":")) + "\n").encode()
    if fds:
        socket.send_fds(sock, [data], list(fds))
    else:
        sock.send(data)


def recv(sock: socket.socket, limit: int, *, flags: int = 0) -> Message | None:
    """Receive one message; ``None`` at end of stream.

    Received descriptors are close-on-exec (``MSG_CMSG_CLOEXEC``); on any error they are
    closed before raising, so nothing leaks.

    Args:
        sock: a connected ``SOCK_SEQPACKET`` socket.
        limit: the largest message accepted, in bytes.
        flags: extra ``recvmsg`` flags (``MSG_DONTWAIT``).

    Returns:
        The message, or ``None`` when the peer closed the connection.

    Raises:
        MessageError: the packet is longer than ``limit``, or not a JSON object.
        OSError: the receive itself failed (``EAGAIN`` with ``MSG_DONTWAIT``, ``ECONNRESET``).
    """
    fds = array.array("i")
    data, ancdata, msg_flags, _ = sock.recvmsg(
        limit + 1, socket.CMSG_SPACE(MAX_FDS * fds.itemsize), flags | socket.MSG_CMSG_CLOEXEC
    )
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            usable = len(payload) - len(payload) % fds.itemsize
            fds.frombytes(payload[:usable])
    received = tuple(fds)
    if not data and not received:
        return None
    try:
        if len(data) > limit or msg_flags & socket.MSG_TRUNC:
            raise MessageError(f"a message longer than {limit} bytes")
        if msg_flags & socket.MSG_CTRUNC:
            raise MessageError(f"a message with more than {MAX_FDS} descriptors")
        try:
            body = json.loads(data)
        except (UnicodeDecodeError, ValueError) as exc:
            raise MessageError(f"a message that is not JSON ({exc})") from None
        if not isinstance(body, dict):
            raise MessageError("a message that is not a JSON object")
    except MessageError:
        close_all(received)
        raise
    return Message(body, received)


def close_all(fds: tuple[int, ...]) -> None:
    """Close every descriptor of ``fds``, ignoring ones already closed."""
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


def error_body(exc: QatError) -> dict[str, Any]:
    """The refusal message for ``exc`` (class name, what, hint, errno, path)."""
    return {
        "ok": False,
        "error": {
            "class": type(exc).__name__,
            "what": exc.what,
            "hint": exc.hint,
            "errno": exc.errno,
            "path": exc.path,
        },
    }


def peer_credentials(sock: socket.socket) -> tuple[int, int, int]:
    """The peer's ``(pid, uid, gid)`` as the kernel recorded them at connect (SO_PEERCRED)."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    pid, uid, gid = _UCRED.unpack(raw)
    return pid, uid, gid
