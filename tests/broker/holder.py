"""A section holder process for the broker tests, driven line by line on stdin.

    python -m tests.broker.holder --runtime-dir DIR [--broker-cmd JSON] [--no-start]
        [--timeout S]

It connects at start (starting the broker with ``--broker-cmd`` when none runs) and
prints ``{"broker_pid": P, "lease": N, "pid": ME}``; then, per command line, one JSON
line on stdout:

* ``lend BDF`` -> ``{"bdf", "iova_base", "iova_size", "group", "device", "pf"}``
  (``device``: what the lent device fd reads; ``pf``: the broker's PF/VF handshake
  results, or null), or ``{"error": CLASS, "message": TEXT}``;
* ``events BDF`` -> ``{"events": [[SEQ, NAME], ...]}``: relayed PF notifications;
* ``ack BDF SEQ`` -> tells the broker this holder quiesced -> ``{"ok": true}``;
* ``map BDF OFFSET SIZE`` -> writes ``map IOVA SIZE`` into the lent container at
  ``iova_base + OFFSET`` (the fake's DMA mapping) -> ``{"ok": true}``;
* ``alive`` -> ``{"alive": BOOL}``;
* ``status`` -> the broker's status record;
* ``close`` -> ends the lease -> ``{"ok": true}``.

A failed connect prints ``{"error": CLASS, "message": TEXT}`` and exits 1.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from typing import Any

from qathw.broker import client
from qathw.errors import QatError


def _out(doc: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(doc) + "\n")
    sys.stdout.flush()


def _error(exc: Exception) -> dict[str, Any]:
    return {"error": type(exc).__name__, "message": str(exc)}


def main() -> int:
    parser = argparse.ArgumentParser(prog="holder")
    parser.add_argument("--runtime-dir", required=True)
    parser.add_argument("--broker-cmd", type=json.loads, default=None)
    parser.add_argument("--no-start", action="store_true")
    parser.add_argument("--timeout", type=float, default=None)  # None: the client's default
    args = parser.parse_args()
    try:
        session = client.connect(
            runtime_dir=args.runtime_dir,
            start=not args.no_start,
            command=args.broker_cmd,
            timeout=args.timeout,
        )
    except QatError as exc:
        _out(_error(exc))
        return 1
    _out({"broker_pid": session.broker_pid, "lease": session.lease, "pid": os.getpid()})
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        try:
            if words[0] == "lend":
                ep = session.lend(words[1])
                device = os.pread(ep.device_fd, 64, 0).decode()
                _out(
                    {
                        "bdf": ep.bdf,
                        "iova_base": ep.iova_base,
                        "iova_size": ep.iova_size,
                        "group": ep.group,
                        "device": device,
                        "pf": None if ep.pf is None else dataclasses.asdict(ep.pf),
                    }
                )
            elif words[0] == "map":
                ep = session.lend(words[1])
                iova, size = ep.iova_base + int(words[2]), int(words[3])
                os.write(ep.container_fd, f"map {iova} {size}\n".encode())
                _out({"ok": True})
            elif words[0] == "events":
                _out({"events": session.pf_events(words[1])})
            elif words[0] == "ack":
                session.pf_ack(words[1], int(words[2]))
                _out({"ok": True})
            elif words[0] == "alive":
                _out({"alive": session.alive()})
            elif words[0] == "status":
                _out(session.status().to_dict())
            elif words[0] == "close":
                session.close()
                _out({"ok": True})
        except (QatError, ValueError) as exc:
            _out(_error(exc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
