"""A process that keeps writing memory and checks every write stayed: ``python -m vm.memcheck``.

Run in a guest while it migrates. It owns a buffer of ``--mib`` MiB and, page after page
(4 KiB), checks the byte it wrote there last round and writes the next one, as fast as
it can, until SIGTERM or SIGINT; then it writes one JSON object to ``--out`` (and
stdout): ``writes``, ``pages``, ``rounds``, ``mismatches``. ``--ready FILE`` is created
once it writes and would answer a signal: wait for it before relying on either. A store
the migration lost (a page the destination got stale) shows as a mismatch; a process
whose memory went wrong in worse ways crashes. It is also a memory load: it dirties
pages as fast as one TCG CPU writes them. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from types import FrameType

PAGE = 4096


def run(mib: int, ready: str | None = None) -> dict[str, int]:
    """Write and check until SIGTERM/SIGINT; the counts. ``ready`` is created on the way."""
    pages = mib * (1 << 20) // PAGE
    buf = bytearray(pages * PAGE)
    last = bytearray(pages)  # what each page holds, as far as this process knows
    stop = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if ready:
        open(ready, "w").close()
    writes = mismatches = 0
    value = 0
    while not stop:
        value = value % 255 + 1  # never 0: a page that reads 0 after a write was lost
        for page in range(pages):
            offset = page * PAGE
            if buf[offset] != last[page]:
                mismatches += 1
            buf[offset] = value
            last[page] = value
            if stop:
                break
        writes += page + 1
    return {"writes": writes, "pages": pages, "rounds": writes // pages, "mismatches": mismatches}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vm.memcheck", description=__doc__)
    parser.add_argument("--mib", type=int, default=64, help="buffer size (default 64 MiB)")
    parser.add_argument("--out", help="write the JSON result here too")
    parser.add_argument("--ready", help="create this file once writing")
    args = parser.parse_args(argv)
    if args.mib < 1:
        parser.error("--mib must be at least 1")
    result = json.dumps(run(args.mib, args.ready))
    if args.out:
        with open(args.out, "w") as f:
            f.write(result + "\n")
    print(result, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
