"""The host <-> guest-agent wire format: one JSON object per line, UTF-8.

Requests (host -> agent) carry an ``id`` and an ``op``:

* ``{"op": "run", "argv": [...]} `` or ``{"op": "run", "shell": "..."}`` with optional
  ``timeout`` (seconds), ``cwd``, ``env`` (added to the agent's environment) and
  ``input`` (text for stdin);
* ``{"op": "ping"}``;
* ``{"op": "shutdown"}``: the agent answers, then exits, and the guest powers off.

Responses (agent -> host) echo the ``id``: ``rc``, ``stdout``, ``stderr``, ``timed_out``,
``seconds`` for ``run``; ``error`` (text) when the request could not be carried out.
The agent's first line is ``{"hello": {...}}`` (pid, kernel release, Python version).
Command output is decoded as UTF-8 with replacement, so one line never breaks framing.
"""

from __future__ import annotations

import json
from typing import Any

PORT_NAME = "qathw.agent"
MAX_LINE = 64 * 1024 * 1024  # a guard against a runaway peer, far above any real output


def encode(message: dict[str, Any]) -> bytes:
    """One message as a line of JSON (no newline inside: ``json.dumps`` escapes them)."""
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


class LineBuffer:
    """Bytes in, complete JSON messages out."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        """Add received bytes; return every message completed by them.

        Raises:
            ValueError: a line is not a JSON object, or grows past ``MAX_LINE``.
        """
        self._buf += data
        out: list[dict[str, Any]] = []
        while True:
            end = self._buf.find(b"\n")
            if end < 0:
                if len(self._buf) > MAX_LINE:
                    raise ValueError(f"agent line longer than {MAX_LINE} bytes")
                return out
            line = bytes(self._buf[:end])
            del self._buf[: end + 1]
            if not line.strip():
                continue
            msg = json.loads(line)
            if not isinstance(msg, dict):
                raise ValueError(f"agent sent {type(msg).__name__}, not an object")
            out.append(msg)
