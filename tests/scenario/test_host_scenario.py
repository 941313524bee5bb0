"""The scenario on this host: the verified workload through a backend crash and a switch.

Real processes throughout (vm/scenario.py's host run): a fake host whose 4xxx VF is
served by ``python -m fakedev serve``, the workload as its own process
(``python -m vm.workload``: AES-CBC out of place, AES-GCM, SHA-256, deflate and a 4 MiB
in-place AES-CBC request, each checked against cryptography, hashlib and zlib), the
backend killed with SIGKILL and replaced, then replaced again after a suspend.
"""

from __future__ import annotations

import pytest

from vm.ledger import Outcome
from vm.scenario import ScenarioResult, host_scenario
from vm.workload import KINDS


def _quiet(text: str) -> None:
    pass


@pytest.fixture(scope="module")
def crash_then_switch() -> ScenarioResult:
    return host_scenario(events=("crash", "switch"), say=_quiet)


def test_a_crash_and_a_switch_lose_duplicate_and_corrupt_nothing(
    crash_then_switch: ScenarioResult,
) -> None:
    verdict = crash_then_switch.verdict
    assert verdict.passed, f"{verdict}\n{crash_then_switch.table()}"


def test_every_kind_of_request_completed_and_was_right(crash_then_switch: ScenarioResult) -> None:
    final = crash_then_switch.final
    assert sorted(final.by_kind) == sorted(KINDS)
    assert all(counts.get(Outcome.OK.value, 0) > 0 for counts in final.by_kind.values())


def test_the_requests_in_flight_at_the_crash_went_to_the_restart_rule(
    crash_then_switch: ScenarioResult,
) -> None:
    crash = crash_then_switch.rows[0]
    assert crash.event == "backend crash"
    assert crash.in_flight > 0
    assert crash.replayed + crash.failed_in_place >= 1
    assert crash.done_after > crash.done_before


def test_only_the_in_place_request_can_fail_at_the_crash(
    crash_then_switch: ScenarioResult,
) -> None:
    failed = {
        kind: counts.get(Outcome.FAILED_IN_PLACE.value, 0)
        for kind, counts in crash_then_switch.final.by_kind.items()
    }
    assert {kind for kind, n in failed.items() if n} <= {"inplace"}


def test_a_suspended_switch_has_nothing_in_flight_to_replay_or_fail(
    crash_then_switch: ScenarioResult,
) -> None:
    switch = crash_then_switch.rows[1]
    assert switch.event == "backend switch"
    assert (switch.replayed, switch.failed_in_place) == (0, 0)
    assert "suspended in" in switch.note
    assert switch.done_after > switch.done_before


def test_with_replay_off_the_requests_lost_to_a_crash_fail_the_run() -> None:
    result = host_scenario(events=("crash",), resubmit=False, say=_quiet)
    crash = result.rows[0]
    assert crash.errors >= 1 and crash.replayed == 0
    assert crash.lost == 0 and crash.wrong == 0
    assert not result.verdict.passed
    assert "failed with an error other than in place" in str(result.verdict)
