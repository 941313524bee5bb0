"""The scenario's books, rows and verdict, and the workload's checks (host only, no guest).

The ledger (vm/ledger.py) is what the workload keeps; the rows and verdict
(vm/verdict.py) are what the host makes of its snapshots; the checks (vm/workload.py)
decide ok or wrong, here against published vectors rather than against themselves.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import pytest

from vm.ledger import (
    Ledger,
    LedgerError,
    Outcome,
    Snapshot,
    answered,
    check_label,
    snapshot_path,
    wanted,
    write_snapshot,
)
from vm.verdict import at_stake, event_row, judge, render, settled, whole_run
from vm.workload import check_cbc, check_deflate, check_gcm, check_sha256

# NIST SP 800-38A F.2.1 (CBC-AES128.Encrypt), first two blocks.
CBC_KEY = bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c")
CBC_IV = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
CBC_PLAIN = bytes.fromhex("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51")
CBC_CIPHER = bytes.fromhex("7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b2")
# The GCM specification (McGrew and Viega), test case 2: AES-128, zero key, one zero block.
GCM_KEY = bytes(16)
GCM_NONCE = bytes(12)
GCM_SEALED = bytes.fromhex("0388dace60b6a392f328c2b971b2fe78ab6e47d42cec13bdf53a67b21257bddf")
# FIPS 180-2 appendix B.1: SHA-256("abc").
SHA_ABC = bytes.fromhex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")


def _snap(**fields: object) -> Snapshot:
    base: dict[str, object] = dict(
        label="s",
        seconds=0.0,
        submitted=0,
        completed=0,
        outcomes={},
        by_kind={},
        duplicated=0,
        stray=0,
        replayed=0,
        pending=(),
    )
    base.update(fields)
    return Snapshot(**base)  # type: ignore[arg-type]


# --- the ledger -----------------------------------------------------------------------------


def test_an_id_closed_once_counts_as_completed_with_its_outcome() -> None:
    books = Ledger()
    rid = books.open("gcm")
    books.close(rid, Outcome.OK)
    snap = books.snapshot("x", replayed=0)
    assert (snap.submitted, snap.completed, snap.pending) == (1, 1, ())
    assert snap.count(Outcome.OK) == 1
    assert snap.by_kind == {"gcm": {"ok": 1}}


def test_a_second_completion_of_an_id_is_a_duplicate_not_a_second_outcome() -> None:
    books = Ledger()
    rid = books.open("cbc")
    books.close(rid, Outcome.OK)
    books.close(rid, Outcome.OK)
    snap = books.snapshot("x", replayed=0)
    assert (snap.completed, snap.duplicated, snap.count(Outcome.OK)) == (1, 1, 1)
    assert "completed again" in snap.samples[0]


def test_a_completion_for_an_id_never_sent_is_stray() -> None:
    books = Ledger()
    books.close(7, Outcome.OK)
    snap = books.snapshot("x", replayed=0)
    assert (snap.completed, snap.stray) == (0, 1)


def test_a_withdrawn_id_is_neither_in_flight_nor_completed() -> None:
    books = Ledger()
    rid = books.open("sha256")
    books.withdraw(rid)
    books.close(rid, Outcome.OK)  # the frontend had said it sent nothing
    snap = books.snapshot("x", replayed=0)
    assert (snap.pending, snap.completed, snap.stray) == ((), 0, 1)


def test_ids_without_an_outcome_are_pending_and_counted_by_kind() -> None:
    books = Ledger()
    first = books.open("inplace")
    books.open("gcm")
    books.open("gcm")
    books.close(first, Outcome.FAILED_IN_PLACE, "DeviceRestartError")
    snap = books.snapshot("x", replayed=3)
    assert snap.pending == (2, 3)
    assert snap.pending_kinds == {"gcm": 2}
    assert (snap.count(Outcome.FAILED_IN_PLACE), snap.replayed) == (1, 3)


def test_wrong_results_and_errors_keep_their_description() -> None:
    books = Ledger()
    books.close(books.open("cbc"), Outcome.WRONG, "AES-CBC: first differing byte 5")
    books.close(books.open("gcm"), Outcome.ERROR, "RequestTimeoutError")
    assert books.snapshot("x", replayed=0).samples == (
        "request 1 (cbc) wrong: AES-CBC: first differing byte 5",
        "request 2 (gcm) error: RequestTimeoutError",
    )


def test_snapshot_seconds_count_from_the_ledger_start() -> None:
    times = iter([10.0, 12.5])
    books = Ledger(clock=lambda: next(times))
    assert books.snapshot("x", replayed=0).seconds == 2.5


def test_a_snapshot_survives_its_json() -> None:
    books = Ledger()
    books.close(books.open("deflate"), Outcome.OK)
    books.open("inplace")
    snap = books.snapshot("after-1", replayed=2, final=True)
    assert Snapshot.from_json(snap.to_json()) == snap


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("not json", "is JSON"),
        ("[1, 2]", "JSON object"),
        ('{"schema_version": 99}', "schema 99"),
    ],
)
def test_a_snapshot_that_is_not_ours_is_refused_with_why(text: str, says: str) -> None:
    with pytest.raises(LedgerError, match=says):
        Snapshot.from_json(text)


def test_a_snapshot_with_a_field_of_the_wrong_type_is_refused() -> None:
    raw = _snap().to_json().replace('"completed": 0', '"completed": "0"')
    with pytest.raises(LedgerError, match="completed"):
        Snapshot.from_json(raw)


@pytest.mark.parametrize("label", ["", "../etc", "a b", "want-x", "stop", "x" * 65])
def test_a_label_that_cannot_name_a_control_file_is_refused(label: str) -> None:
    with pytest.raises(LedgerError):
        check_label(label)


def test_the_control_directory_lists_asked_labels_and_their_answers_replace_them(
    tmp_path: Path,
) -> None:
    (tmp_path / "want-b").touch()
    (tmp_path / "want-a").touch()
    assert wanted(tmp_path) == ["a", "b"]
    write_snapshot(tmp_path, _snap(label="a"))
    answered(tmp_path, "a")
    assert wanted(tmp_path) == ["b"]
    assert Snapshot.from_json(snapshot_path(tmp_path, "a").read_text()).label == "a"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "want-b"]


# --- rows and verdict ---------------------------------------------------------------------


def test_requests_at_stake_are_those_in_flight_before_and_those_sent_after() -> None:
    before = _snap(submitted=10, pending=(8, 10))
    after = _snap(submitted=13)
    assert at_stake(before, after) == {8, 10, 11, 12, 13}


def test_an_event_lost_only_the_requests_at_stake_that_never_completed() -> None:
    before = _snap(submitted=10, completed=7, pending=(8, 9, 10))
    after = _snap(submitted=20, completed=12, pending=(9, 19, 20))
    final = _snap(submitted=30, completed=27, pending=(3, 9, 20), final=True)
    row = event_row("crash", before, after, final)
    assert row.lost == 2  # 9 and 20; 3 was sent before the event and is not its loss
    assert whole_run(final).lost == 3


def test_an_event_settles_once_its_requests_have_outcomes_and_new_ones_complete() -> None:
    before = _snap(submitted=10, completed=8, pending=(9, 10))
    assert not settled(before, _snap(completed=30, pending=(10,)), min_new=1)
    assert not settled(before, _snap(completed=10, pending=(11,)), min_new=1)
    assert settled(before, _snap(completed=11, pending=(12,)), min_new=1)


def test_an_event_row_counts_what_changed_between_its_snapshots() -> None:
    before = _snap(completed=5, outcomes={"ok": 4, "wrong": 1}, duplicated=1, stray=0, replayed=2)
    after = _snap(
        completed=20,
        outcomes={"ok": 16, "wrong": 1, "failed in place": 1, "error": 2},
        duplicated=1,
        stray=1,
        replayed=9,
    )
    row = event_row("switch", before, after, _snap(final=True), migration_ms=900.0)
    assert (row.done_before, row.done_after) == (5, 20)
    assert (row.duplicated, row.wrong, row.replayed) == (1, 0, 7)
    assert (row.failed_in_place, row.errors, row.migration_ms) == (1, 2, 900.0)


def test_a_clean_run_with_an_in_place_failure_passes() -> None:
    before = _snap(submitted=5, completed=5)
    after = _snap(submitted=20, completed=20, outcomes={"ok": 19, "failed in place": 1})
    final = _snap(submitted=30, completed=30, outcomes={"ok": 29, "failed in place": 1}, final=True)
    verdict = judge([event_row("crash", before, after, final), whole_run(final)], final)
    assert verdict.passed, verdict
    assert str(verdict) == "PASS: 0 lost, 0 duplicated, 0 wrong"


@pytest.mark.parametrize(
    ("final_fields", "reason"),
    [
        ({"pending": (12,)}, "1 lost (at: crash"),
        ({"duplicated": 1}, "1 duplicated (at: whole run)"),
        ({"stray": 2}, "2 duplicated"),
        ({"outcomes": {"ok": 9, "wrong": 1}}, "1 wrong"),
        ({"outcomes": {"ok": 9, "error": 1}}, "1 failed with an error other than in place"),
        ({"final": False}, "did not stop and drain"),
    ],
)
def test_a_run_fails_and_says_why(final_fields: dict[str, object], reason: str) -> None:
    before = _snap(submitted=10, completed=10)
    after = _snap(submitted=15, completed=14, pending=(12,))
    fields: dict[str, object] = {"submitted": 20, "completed": 10, "final": True}
    final = _snap(**{**fields, **final_fields})
    verdict = judge([event_row("crash", before, after, final), whole_run(final)], final)
    assert not verdict.passed
    assert reason in str(verdict)


def test_a_run_where_nothing_completed_fails() -> None:
    final = _snap(final=True)
    assert "no request completed" in str(judge([whole_run(final)], final))


def test_the_table_has_a_header_a_rule_a_line_per_row_and_the_notes() -> None:
    final = _snap(submitted=3, completed=3, outcomes={"ok": 3}, final=True)
    row = event_row(
        "live migration", _snap(), final, final, migration_ms=1703.4, downtime_ms=96.2, note="n"
    )
    lines = render([row, whole_run(final)]).splitlines()
    assert lines[0].split()[:3] == ["event", "done", "before"]
    assert set(lines[1]) == {"-", " "}
    assert lines[2].startswith("live migration") and lines[2].split()[-2:] == ["1703", "96"]
    assert lines[3].startswith("whole run") and lines[3].split()[-2:] == ["-", "-"]
    assert lines[4] == "live migration: n"
    assert len({len(line) for line in lines[:2]}) == 1


# --- the workload's checks, against published vectors ---------------------------------------


def test_the_cbc_check_accepts_the_nist_ciphertext_and_names_a_wrong_byte() -> None:
    assert check_cbc(CBC_CIPHER, CBC_KEY, CBC_IV, CBC_PLAIN) is None
    wrong = CBC_CIPHER[:17] + bytes([CBC_CIPHER[17] ^ 1]) + CBC_CIPHER[18:]
    assert check_cbc(wrong, CBC_KEY, CBC_IV, CBC_PLAIN) == (
        "AES-CBC: got 32 bytes, first differing byte 17 (expected 32 bytes)"
    )


def test_the_gcm_check_accepts_the_specification_vector_and_refuses_a_wrong_tag() -> None:
    assert check_gcm(GCM_SEALED, GCM_KEY, GCM_NONCE, bytes(16), b"") is None
    assert check_gcm(GCM_SEALED[:-1] + b"\0", GCM_KEY, GCM_NONCE, bytes(16), b"") is not None


def test_the_sha256_check_accepts_the_fips_digest_and_refuses_a_short_one() -> None:
    assert check_sha256(SHA_ABC, b"abc") is None
    assert "prefix" in (check_sha256(SHA_ABC[:16], b"abc") or "")


def test_the_deflate_check_wants_a_stream_that_inflates_with_the_right_crc() -> None:
    text = b"the quick brown fox " * 50
    packer = zlib.compressobj(6, zlib.DEFLATED, -15)
    raw = packer.compress(text) + packer.flush()
    assert check_deflate(raw, zlib.crc32(text), text) is None
    assert "CRC32" in (check_deflate(raw, zlib.crc32(text) ^ 1, text) or "")
    assert "does not inflate" in (check_deflate(b"\xff" * 8, zlib.crc32(text), text) or "")
    other = text[:-1] + b"!"
    assert "round trip" in (check_deflate(raw, zlib.crc32(other), other) or "")
