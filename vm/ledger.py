"""The verified workload's books: every request by id, its outcome, and snapshots of them.

The workload (:mod:`vm.workload`, in a guest or on the host) opens an id for each
request the frontend took, closes it with an :class:`Outcome` when its completion comes,
and writes a :class:`Snapshot` when the host asks. A second completion of a closed id is a
*duplicate*; an id still open when the workload stopped and drained is *lost*. The host
(:mod:`vm.scenario`) asks for snapshots around each event and compares them
(:mod:`vm.verdict`).

The control directory is how the host asks (files, so that it works through a guest's
command channel as well as on the host): an empty file ``want-LABEL`` asks for a
snapshot, answered as ``LABEL.json`` (written whole, then renamed into place); ``stop``
asks the workload to stop submitting, drain, and answer ``final.json``; the workload
writes ``ready.json`` once its first request completed. Pure: no qathw here.
"""

from __future__ import annotations

import enum
import json
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
WANT_PREFIX = "want-"
STOP = "stop"
READY = "ready"
FINAL = "final"
SAMPLES = 8  # descriptions of wrong results and errors a snapshot keeps
_WITHDRAWN = 0xFF  # an id whose request the frontend refused (never sent)
_MAX_COUNT = 0xFE


class Outcome(enum.Enum):
    """How one request ended."""

    OK = "ok"  # its result matched the reference computed in software
    WRONG = "wrong"  # a result, but not the reference's
    FAILED_IN_PLACE = "failed in place"  # DeviceRestartError on the caller's own buffer
    ERROR = "error"  # any other exception


class LedgerError(ValueError):
    """A snapshot that is not what this module writes (the message says what is wrong)."""


@dataclass(frozen=True)
class Snapshot:
    """The books at one moment (cumulative since the workload started).

    Attributes:
        label: what the host asked it as (``final`` for the last one).
        seconds: the workload's clock (monotonic, from its start).
        submitted: ids handed out; ids are ``1..submitted``.
        completed: ids that have an outcome.
        outcomes: count per :class:`Outcome` value.
        by_kind: count per request kind, then per outcome value.
        duplicated: completions beyond an id's first.
        stray: responses the frontend could match to no request (it raised on them).
        replayed: requests the frontend sent again after a restart (its own count).
        pending: ids sent whose completion has not come.
        pending_kinds: how many of them per request kind.
        samples: the first notes: wrong results, errors, duplicates, failed looks.
        final: the workload stopped and drained; ``pending`` are lost.
    """

    label: str
    seconds: float
    submitted: int
    completed: int
    outcomes: dict[str, int]
    by_kind: dict[str, dict[str, int]]
    duplicated: int
    stray: int
    replayed: int
    pending: tuple[int, ...]
    pending_kinds: dict[str, int] = field(default_factory=dict)
    samples: tuple[str, ...] = ()
    final: bool = False
    schema_version: int = field(default=SCHEMA_VERSION)

    def count(self, outcome: Outcome) -> int:
        """Requests that ended with ``outcome``."""
        return self.outcomes.get(outcome.value, 0)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Snapshot:
        """Parse what :meth:`to_json` wrote.

        Raises:
            LedgerError: not JSON, another schema, or a field of the wrong type.
        """
        try:
            raw = json.loads(text)
        except ValueError as exc:
            raise LedgerError(f"a snapshot is JSON; got {text[:80]!r} ({exc})") from None
        if not isinstance(raw, dict):
            raise LedgerError(f"a snapshot is a JSON object, not {type(raw).__name__}")
        if raw.get("schema_version") != SCHEMA_VERSION:
            raise LedgerError(
                f"snapshot schema {raw.get('schema_version')!r}, this reader knows "
                f"{SCHEMA_VERSION}: run the workload of this checkout"
            )
        try:
            snap = cls(
                label=_typed(raw, "label", str),
                seconds=float(_typed(raw, "seconds", (int, float))),
                submitted=_typed(raw, "submitted", int),
                completed=_typed(raw, "completed", int),
                outcomes=_counts(_typed(raw, "outcomes", dict)),
                by_kind={str(k): _counts(v) for k, v in _typed(raw, "by_kind", dict).items()},
                duplicated=_typed(raw, "duplicated", int),
                stray=_typed(raw, "stray", int),
                replayed=_typed(raw, "replayed", int),
                pending=tuple(_ints(_typed(raw, "pending", list))),
                pending_kinds=_counts(_typed(raw, "pending_kinds", dict)),
                samples=tuple(str(s) for s in _typed(raw, "samples", list)),
                final=_typed(raw, "final", bool),
            )
        except (TypeError, ValueError) as exc:
            raise LedgerError(f"a malformed snapshot: {exc}") from None
        return snap


def _typed(raw: Mapping[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    value = raw.get(key)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise TypeError(f"{key} is {value!r}")
    return value


def _ints(values: Iterable[object]) -> list[int]:
    out = []
    for v in values:
        if not isinstance(v, int) or isinstance(v, bool):
            raise TypeError(f"{v!r} is not an int")
        out.append(v)
    return out


def _counts(raw: object) -> dict[str, int]:
    if not isinstance(raw, dict):
        raise TypeError(f"{raw!r} is not a map of counts")
    return dict(zip(map(str, raw), _ints(raw.values()), strict=True))


class Ledger:
    """Every request of the workload by id.

    Args:
        clock: monotonic seconds (the snapshots' ``seconds`` count from the first call).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._start = clock()
        self._counts = bytearray(1)  # completions per id (index 0 unused)
        self._kinds = bytearray(1)  # kind per id, as an index into _kind_names
        self._kind_names: list[str] = []
        self._pending: set[int] = set()
        self._outcomes: dict[str, int] = {}
        self._by_kind: dict[str, dict[str, int]] = {}
        self._completed = 0
        self._duplicated = 0
        self._stray = 0
        self._samples: list[str] = []

    @property
    def in_flight(self) -> int:
        """Ids open now."""
        return len(self._pending)

    @property
    def completed(self) -> int:
        """Ids that have an outcome."""
        return self._completed

    def open(self, kind: str) -> int:
        """A new id for a request of ``kind`` about to be sent."""
        if kind not in self._kind_names:
            self._kind_names.append(kind)
        rid = len(self._counts)
        self._counts.append(0)
        self._kinds.append(self._kind_names.index(kind))
        self._pending.add(rid)
        return rid

    def withdraw(self, rid: int) -> None:
        """The frontend refused ``rid`` (nothing was sent): it counts nowhere."""
        self._pending.discard(rid)
        self._counts[rid] = _WITHDRAWN

    def close(self, rid: int, outcome: Outcome, note: str = "") -> None:
        """``rid`` completed with ``outcome`` (``note`` says why, for wrong and errors)."""
        if not 0 < rid < len(self._counts) or self._counts[rid] == _WITHDRAWN:
            self.stray(f"a completion for request {rid}, which was never sent")
            return
        kind = self._kind_names[self._kinds[rid]]
        if self._counts[rid]:
            self._duplicated += 1
            self.note(f"request {rid} ({kind}) completed again: {outcome.value}")
            self._counts[rid] = min(self._counts[rid] + 1, _MAX_COUNT)
            return
        self._counts[rid] = 1
        self._pending.discard(rid)
        self._completed += 1
        self._outcomes[outcome.value] = self._outcomes.get(outcome.value, 0) + 1
        per = self._by_kind.setdefault(kind, {})
        per[outcome.value] = per.get(outcome.value, 0) + 1
        if outcome in (Outcome.WRONG, Outcome.ERROR):
            self.note(f"request {rid} ({kind}) {outcome.value}: {note}")

    def stray(self, note: str) -> None:
        """A response (or completion) that belongs to no request in flight."""
        self._stray += 1
        self.note(note)

    def note(self, text: str) -> None:
        """Keep ``text`` among the samples (the first :data:`SAMPLES` only)."""
        if len(self._samples) < SAMPLES:
            self._samples.append(text[:300])

    def snapshot(self, label: str, *, replayed: int, final: bool = False) -> Snapshot:
        """The books now; ``replayed`` is the frontend's own count."""
        pending_kinds: dict[str, int] = {}
        for rid in self._pending:
            kind = self._kind_names[self._kinds[rid]]
            pending_kinds[kind] = pending_kinds.get(kind, 0) + 1
        return Snapshot(
            label=label,
            seconds=round(self._clock() - self._start, 6),
            submitted=len(self._counts) - 1,
            completed=self._completed,
            outcomes=dict(self._outcomes),
            by_kind={k: dict(v) for k, v in self._by_kind.items()},
            duplicated=self._duplicated,
            stray=self._stray,
            replayed=replayed,
            pending=tuple(sorted(self._pending)),
            pending_kinds=pending_kinds,
            samples=tuple(self._samples),
            final=final,
        )


# --- the control directory ------------------------------------------------------------------


def snapshot_path(control: Path, label: str) -> Path:
    """Where the answer to ``label`` goes."""
    return control / f"{label}.json"


def check_label(label: str) -> str:
    """``label`` if it can name a file of the control directory.

    Raises:
        LedgerError: empty, too long, or not letters, digits, ``-`` and ``_``.
    """
    if not label or len(label) > 64 or not all(c.isalnum() or c in "-_" for c in label):
        raise LedgerError(f"a snapshot label is 1-64 letters, digits, '-' or '_', not {label!r}")
    if label.startswith(WANT_PREFIX) or label == STOP:
        raise LedgerError(f"{label!r} is a name the control directory uses itself")
    return label


def write_snapshot(control: Path, snap: Snapshot) -> Path:
    """Write ``snap`` as ``LABEL.json``, whole (a reader never sees half of it)."""
    path = snapshot_path(control, snap.label)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(snap.to_json())
    os.replace(tmp, path)
    return path


def wanted(control: Path) -> list[str]:
    """Labels the host asked for and no answer exists yet, oldest name first."""
    try:
        names = sorted(os.listdir(control))
    except FileNotFoundError:
        return []
    return [n[len(WANT_PREFIX) :] for n in names if n.startswith(WANT_PREFIX)]


def answered(control: Path, label: str) -> None:
    """The request for ``label`` has its answer: remove it."""
    (control / f"{WANT_PREFIX}{label}").unlink(missing_ok=True)
