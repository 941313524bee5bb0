"""A progress line while a guest boots (30-90 s under TCG): elapsed time and what it is doing.

On a terminal the line is rewritten in place; elsewhere (CI logs, pytest capture) a line
is printed every ``interval`` seconds, so a slow boot is visibly alive but not noisy.
"""

from __future__ import annotations

import sys
import time
from typing import Protocol, TextIO


class Sink(Protocol):
    """Receives progress lines; ``final`` is True for the closing one."""

    @property
    def in_place(self) -> bool:
        """Whether a line replaces the previous one (a terminal)."""
        ...

    def __call__(self, text: str, final: bool) -> None: ...


class StreamSink:
    """Writes to ``stream`` (stderr by default), in place when it is a terminal."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._out = stream if stream is not None else sys.stderr
        self._tty = self._out.isatty()

    @property
    def in_place(self) -> bool:
        return self._tty

    def __call__(self, text: str, final: bool) -> None:
        if self._tty:
            self._out.write("\r\x1b[K" + text + ("\n" if final else ""))
        else:
            self._out.write(text + "\n")
        self._out.flush()


class BootProgress:
    """Reports a boot's progress to a sink, throttled.

    Args:
        label: what is booting ("6.1.0-56-amd64, TCG, 2 CPUs").
        sink: where lines go; ``None`` reports nothing.
        interval: seconds between lines when not on a terminal.
    """

    def __init__(self, label: str, sink: Sink | None, *, interval: float = 10.0) -> None:
        self._label = label
        self._sink = sink
        self._interval = interval
        self._started = time.monotonic()
        self._last = 0.0
        self._in_place = sink is not None and sink.in_place

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._started

    def update(self, detail: str = "") -> None:
        """Report that the boot is still going (``detail``: the last console line)."""
        if self._sink is None:
            return
        now = time.monotonic()
        if now - self._last < (0.5 if self._in_place else self._interval):
            return
        self._last = now
        self._sink(self._line("booting", detail), False)

    def finish(self, outcome: str) -> None:
        """The closing line: ``outcome`` is "up", "failed to boot", ..."""
        if self._sink is not None:
            self._sink(f"vm: guest {outcome} after {self.elapsed:.0f}s ({self._label})", True)

    def _line(self, state: str, detail: str) -> str:
        text = f"vm: {state} guest ({self._label}) {self.elapsed:4.0f}s"
        detail = detail.strip()
        if detail:
            text += f"  {detail[:70]}"
        return text
