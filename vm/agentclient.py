"""The host end of the guest agent, shared by both guest kinds: requests, replies, commands.

QEMU exposes the agent's virtio-serial port as a UNIX socket it listens on; an
:class:`AgentChannel` is the host's connection to it (the line protocol of
:mod:`vm.protocol`, request ids, replies that arrive out of turn kept until asked for).
:class:`AgentClient` is what a guest offers on top — :meth:`~AgentClient.run`,
:meth:`~AgentClient.python`, :meth:`~AgentClient.ping` — for a subclass that owns the
QEMU side (:class:`vm.guest.Guest`, :class:`vm.migratable.MigratableGuest`).
"""

from __future__ import annotations

import abc
import os
import select
import shlex
import socket
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from vm.errors import GuestTimeoutError, VmError
from vm.host import PROJECT_ROOT, HostTools
from vm.protocol import LineBuffer, encode
from vm.results import Result

HOST_MARGIN = 30.0  # seconds the host waits beyond a command's own timeout


class ChannelClosedError(VmError):
    """The agent's port closed under the host (the guest powered off or its QEMU ended)."""


class AgentChannel:
    """The host's connection to one QEMU's agent socket.

    Args:
        path: the socket QEMU listens on (``-chardev socket,...,server=on``).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._sock: socket.socket | None = None
        self._reader = LineBuffer()
        self._pending: list[dict[str, Any]] = []
        self._next_id = 0

    @property
    def connected(self) -> bool:
        return self._sock is not None

    @property
    def next_id(self) -> int:
        """The id the next request will carry."""
        return self._next_id + 1

    def connect(self) -> bool:
        """Connect if QEMU listens yet; whether connected."""
        if self._sock is not None:
            return True
        if not self.path.exists():
            return False
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(str(self.path))
        except OSError:
            sock.close()
            return False  # QEMU made the file but does not listen yet; try again
        self._sock = sock
        return True

    def receive(self, wait: float) -> list[dict[str, Any]]:
        """The messages that complete within ``wait`` seconds (maybe none).

        Raises:
            ChannelClosedError: the other end closed.
        """
        if self._sock is None:
            raise ChannelClosedError(f"not connected to {self.path}")
        ready, _, _ = select.select([self._sock], [], [], wait)
        if not ready:
            return []
        data = self._sock.recv(1 << 20)
        if not data:
            raise ChannelClosedError("the guest agent closed its channel")
        return self._reader.feed(data)

    def send(self, message: Mapping[str, Any]) -> int:
        """Send a request with a new id; the id."""
        if self._sock is None:
            raise ChannelClosedError(f"not connected to {self.path}")
        self._next_id += 1
        self._sock.sendall(encode({**message, "id": self._next_id}))
        return self._next_id

    def take(self, rid: int) -> dict[str, Any] | None:
        """The reply to request ``rid`` if it arrived (it is handed out once)."""
        for i, msg in enumerate(self._pending):
            if msg.get("id") == rid:
                del self._pending[i]
                return msg
        return None

    def keep(self, messages: list[dict[str, Any]]) -> None:
        """Hold received messages until :meth:`take` asks for them."""
        self._pending.extend(messages)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


class AgentClient(abc.ABC):
    """Commands in a guest through its agent; a subclass owns the QEMU side.

    A subclass sets ``tools`` and ``hello`` and implements :meth:`_channel`, :meth:`_died`,
    :meth:`_console_tail`, :meth:`shutdown` and :meth:`close`. As a context manager a
    guest shuts down cleanly on a normal exit and is ended by pid on an exception.
    """

    tools: HostTools
    hello: dict[str, Any]

    # --- what a subclass provides ------------------------------------------------------

    @abc.abstractmethod
    def _channel(self) -> AgentChannel:
        """The connected channel, or a :class:`VmError` saying why there is none."""

    @abc.abstractmethod
    def _died(self) -> bool:
        """Whether the guest's QEMU is gone."""

    @abc.abstractmethod
    def _console_tail(self, lines: int = 25) -> str:
        """The last ``lines`` lines of the guest's console, for error messages."""

    @abc.abstractmethod
    def close(self) -> None:
        """End every process of the guest by pid and remove its files. Idempotent."""

    @abc.abstractmethod
    def shutdown(self, timeout: float = 30.0) -> None:
        """Power the guest off through its agent, then :meth:`close`."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.shutdown()
        else:
            self.close()

    # --- requests --------------------------------------------------------------------

    def _request(self, message: dict[str, Any], timeout: float) -> dict[str, Any]:
        channel = self._channel()
        rid = channel.send(message)
        deadline = time.monotonic() + timeout
        while True:
            reply = channel.take(rid)
            if reply is not None:
                return reply
            if time.monotonic() > deadline:
                self.close()
                raise GuestTimeoutError(
                    f"the guest did not answer {message.get('op')!r} in {timeout:.0f}s; "
                    "it has been shut down"
                )
            if self._died():
                raise VmError(f"the guest died{self._console_tail()}")
            try:
                channel.keep(channel.receive(0.5))
            except ChannelClosedError as exc:
                raise VmError(f"{exc}{self._console_tail()}") from None

    def ping(self, timeout: float = 30.0) -> dict[str, Any]:
        """Ask the agent whether it is there; its answer (``pong``, its ``pid``).

        Raises:
            GuestTimeoutError: no answer in ``timeout`` seconds (the guest is shut down).
        """
        return self._request({"op": "ping"}, timeout)

    def run(
        self,
        command: str | Sequence[str],
        *,
        timeout: float = 120.0,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        input: str | None = None,
        check: bool = False,
    ) -> Result:
        """Run a command in the guest as root and wait for it.

        Args:
            command: a shell command line (``str``) or an argv list.
            timeout: seconds the command may run; then it is killed (``timed_out``).
            env: variables added to the guest environment.
            cwd: working directory in the guest (the project root by default).
            input: text for the command's stdin.
            check: raise :class:`GuestCommandError` unless it exits 0.

        Returns:
            Exit code, output, duration.

        Raises:
            GuestTimeoutError: the guest did not answer within ``timeout`` plus a margin (the
                guest is shut down).
            VmError: the guest is closed or died.
        """
        req: dict[str, Any] = {"op": "run", "timeout": timeout}
        if isinstance(command, str):
            req["shell"] = command
            shown = command
        else:
            req["argv"] = [str(a) for a in command]
            shown = shlex.join(req["argv"])
        req["env"] = {**self.guest_env(), **(env or {})}
        req["cwd"] = os.fspath(cwd) if cwd is not None else str(PROJECT_ROOT)
        if input is not None:
            req["input"] = input
        reply = self._request(req, timeout + HOST_MARGIN)
        if "error" in reply:
            raise VmError(f"the guest agent could not run {shown!r}: {reply['error']}")
        result = Result(
            command=shown,
            rc=int(reply["rc"]),
            stdout=reply["stdout"],
            stderr=reply["stderr"],
            seconds=float(reply["seconds"]),
            timed_out=bool(reply["timed_out"]),
        )
        return result.check() if check else result

    def guest_env(self) -> dict[str, str]:
        """Variables every guest command gets: the venv on PATH, no bytecode writes."""
        return {
            "PATH": f"{self.tools.bin_dir}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:"
            "/sbin:/bin",
            "PYTHONDONTWRITEBYTECODE": "1",
            "QATHW_IN_GUEST": "1",
        }

    def python(self, *args: str, timeout: float = 120.0, check: bool = False) -> Result:
        """Run this virtual env's Python in the guest with ``args``."""
        return self.run([sys.executable, *args], timeout=timeout, check=check)
