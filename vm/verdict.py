"""What an event did to the workload's requests: one row per event, a table, a verdict.

An event (a backend crash, a live migration, a save and restore) is bracketed by two
snapshots of the workload's books (:class:`vm.ledger.Snapshot`): *before*, taken just
ahead of it, and *after*, once it settled. The requests at stake are those in flight at
*before* and those sent between the two; an event **lost** the ones among them that never
completed by the end of the run (the final snapshot, after the workload drained). The
other columns are the counts that changed between the two snapshots.

Pass = no request lost, duplicated or wrong, and none failed but an in-place one
(``DeviceRestartError`` on the caller's own buffer is the rule's answer, not a fault).
Pure: no qathw, no QEMU.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from vm.ledger import Outcome, Snapshot

MIN_NEW = 8  # requests sent after an event that must complete before it counts as settled


@dataclass(frozen=True)
class EventRow:
    """One line of the table.

    Attributes:
        event: what happened (``backend crash``...).
        done_before / done_after: requests completed by the two snapshots.
        in_flight: requests in flight at the *before* snapshot.
        lost: requests at stake that never completed.
        duplicated: completions beyond an id's first, and responses matching no request.
        wrong: results that did not match the software reference.
        replayed: requests the frontend sent again.
        failed_in_place: in-place requests failed with ``DeviceRestartError``.
        errors: requests that ended in any other error.
        migration_ms / downtime_ms: the migration's total time and downtime as QEMU
            reports them (``None``: not a migration).
        note: what else the reader should know (an event that did not settle).
    """

    event: str
    done_before: int
    done_after: int
    in_flight: int
    lost: int
    duplicated: int
    wrong: int
    replayed: int
    failed_in_place: int
    errors: int
    migration_ms: float | None = None
    downtime_ms: float | None = None
    note: str = ""


def at_stake(before: Snapshot, after: Snapshot) -> set[int]:
    """Ids an event between ``before`` and ``after`` could have lost."""
    return set(before.pending) | set(range(before.submitted + 1, after.submitted + 1))


def settled(before: Snapshot, after: Snapshot, min_new: int = MIN_NEW) -> bool:
    """Whether the event is behind the workload: every request in flight at ``before``
    has an outcome, and ``min_new`` requests sent after it completed too."""
    if not set(before.pending).isdisjoint(after.pending):
        return False
    return after.completed >= before.completed + len(before.pending) + min_new


def event_row(
    event: str,
    before: Snapshot,
    after: Snapshot,
    final: Snapshot,
    *,
    migration_ms: float | None = None,
    downtime_ms: float | None = None,
    note: str = "",
) -> EventRow:
    """The row of one event, from its two snapshots and the final one."""

    def delta(outcome: Outcome) -> int:
        return after.count(outcome) - before.count(outcome)

    return EventRow(
        event=event,
        done_before=before.completed,
        done_after=after.completed,
        in_flight=len(before.pending),
        lost=len(at_stake(before, after) & set(final.pending)),
        duplicated=after.duplicated + after.stray - before.duplicated - before.stray,
        wrong=delta(Outcome.WRONG),
        replayed=after.replayed - before.replayed,
        failed_in_place=delta(Outcome.FAILED_IN_PLACE),
        errors=delta(Outcome.ERROR),
        migration_ms=migration_ms,
        downtime_ms=downtime_ms,
        note=note,
    )


def whole_run(final: Snapshot) -> EventRow:
    """The row of the whole run: every request, from the start to the final snapshot."""
    return EventRow(
        event="whole run",
        done_before=0,
        done_after=final.completed,
        in_flight=0,
        lost=len(final.pending),
        duplicated=final.duplicated + final.stray,
        wrong=final.count(Outcome.WRONG),
        replayed=final.replayed,
        failed_in_place=final.count(Outcome.FAILED_IN_PLACE),
        errors=final.count(Outcome.ERROR),
    )


COLUMNS = (
    ("event", "event"),
    ("done before", "done_before"),
    ("done after", "done_after"),
    ("in flight", "in_flight"),
    ("lost", "lost"),
    ("duplicated", "duplicated"),
    ("wrong", "wrong"),
    ("replayed", "replayed"),
    ("failed in place", "failed_in_place"),
    ("errors", "errors"),
    ("migration ms", "migration_ms"),
    ("downtime ms", "downtime_ms"),
)


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.0f}"
    return str(value)


def render(rows: Sequence[EventRow]) -> str:
    """The rows as a table of aligned text columns (notes below it)."""
    cells = [[title for title, _ in COLUMNS]]
    cells += [[_cell(getattr(row, attr)) for _, attr in COLUMNS] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]

    def line(values: list[str]) -> str:
        first = values[0].ljust(widths[0])
        rest = (v.rjust(w) for v, w in zip(values[1:], widths[1:], strict=True))
        return "  ".join([first, *rest]).rstrip()

    out = [line(cells[0]), "  ".join("-" * w for w in widths)]
    out += [line(c) for c in cells[1:]]
    out += [f"{row.event}: {row.note}" for row in rows if row.note]
    return "\n".join(out)


@dataclass(frozen=True)
class Verdict:
    """Whether the run passed, and why not."""

    passed: bool
    reasons: tuple[str, ...]

    def __str__(self) -> str:
        if self.passed:
            return "PASS: 0 lost, 0 duplicated, 0 wrong"
        return "FAIL: " + "; ".join(self.reasons)


def judge(rows: Sequence[EventRow], final: Snapshot) -> Verdict:
    """Pass or fail, from the event rows and the final snapshot.

    Every count is judged on the whole run (a request lost outside any event fails it
    too); the rows name the events where it happened.
    """
    reasons = []
    if not final.final:
        reasons.append("the workload did not stop and drain (no final snapshot)")
    total = whole_run(final)
    for what, attr in (
        ("lost", "lost"),
        ("duplicated", "duplicated"),
        ("wrong", "wrong"),
        ("failed with an error other than in place", "errors"),
    ):
        count = getattr(total, attr)
        if count:
            where = [r.event for r in rows if getattr(r, attr)]
            at = f" (at: {', '.join(where)})" if where else ""
            reasons.append(f"{count} {what}{at}")
    if final.completed == 0:
        reasons.append("no request completed at all")
    return Verdict(not reasons, tuple(reasons))
