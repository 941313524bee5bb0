"""Two bad cases of the section broker, on real VFIO.

In a guest, holder processes borrow one vfio-bound ivshmem function through the broker
(tests/vm/broker_bad_cases_guest.py, one run for the module):

- the function's VFIO group is held by a process outside the broker: a holder asking the
  broker for it gets the busy error naming that process, and the broker keeps nothing of
  it open and keeps serving; once the outsider exits, the same holder borrows it;
- the broker is killed with SIGKILL while two holders hold the function: each holder's
  next check says the broker is gone, and the holders close the fds it lent, so a new
  broker, started on demand for a new holder, lends the same function while the old
  holders still run.

The endpoint is a PF-style emulated one (no PF/VF mailbox): nothing here sends requests.
"""

from __future__ import annotations

import errno
import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.vm.endpoint_file import EndpointFacts, create_endpoint_file
from vm.guest import Guest, GuestSpec

pytestmark = pytest.mark.vm

Report = dict[str, Any]


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> EndpointFacts:
    path = tmp_path_factory.mktemp("vm") / "4xxx.qat"
    return create_endpoint_file(path, device="4xxx", total_size=16 << 20)


@pytest.fixture(scope="module")
def guest_spec(endpoint: EndpointFacts) -> GuestSpec:
    return GuestSpec(shared_memory=(Path(endpoint.path),))


@pytest.fixture(scope="module")
def run(guest: Guest, endpoint: EndpointFacts) -> Report:
    result = guest.python("-m", "tests.vm.broker_bad_cases_guest", timeout=300)
    assert result.ok, f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    report: Report = json.loads(result.stdout.strip().splitlines()[-1])
    return report


def _step(run: Report, *keys: str) -> list[Any]:
    """The answers of these steps, failing with the guest's error and broker log if one
    did not happen."""
    missing = [k for k in keys if k not in run]
    assert not missing, (
        f"steps {missing} did not run: {run.get('error')}\n{run.get('ends')}\n"
        f"broker log: {run.get('broker_log')}"
    )
    return [run[k] for k in keys]


def _holds(status: Report, bdf: str) -> tuple[list[Report], list[int]]:
    """The endpoints of ``bdf`` the broker has open, and the pids of leases borrowing it."""
    opened = [e for e in status["endpoints"] if e["bdf"] == bdf and e["open"]]
    pids = [
        int(lease["pid"])
        for lease in status["leases"]
        if any(r["bdf"] == bdf for r in lease["ranges"])
    ]
    return opened, pids


def test_a_holder_asking_for_a_group_an_outsider_holds_gets_busy_naming_the_outsider(
    run: Report,
) -> None:
    (busy, outsider) = _step(run, "a_busy", "outsider_pid")
    assert busy["ok"] is False, busy
    assert busy["error"]["cls"] == "VfioGroupBusyError", busy
    assert busy["error"]["errno"] == errno.EBUSY
    assert f"pid {outsider} (python" in busy["error"]["msg"], busy


def test_the_refused_lend_leaves_nothing_open_and_the_broker_serving(run: Report) -> None:
    bdf, a, busy, after = _step(run, "bdf", "a", "status_busy", "status_a")
    assert _holds(busy, bdf) == ([], [])
    assert a["pid"] in {int(lease["pid"]) for lease in busy["leases"]}  # still connected
    assert after["pid"] == busy["pid"]  # the same broker answers the next request


def test_after_the_outsider_exits_the_refused_holder_borrows_the_endpoint(
    run: Report,
) -> None:
    bdf, a, got, busy, after = _step(run, "bdf", "a", "a_open", "status_busy", "status_a")
    assert got == {"ok": True, "broker_pid": busy["pid"]}
    opened, pids = _holds(after, bdf)
    assert len(opened) == 1 and pids == [a["pid"]]


def test_holders_of_a_killed_broker_get_broker_gone_on_their_next_check(run: Report) -> None:
    old, dead, a_probe, b_probe = _step(run, "status_both", "broker_dead", "a_probe", "b_probe")
    assert dead is True
    for probe in (a_probe, b_probe):
        assert probe["error"] is not None, probe
        assert probe["error"]["cls"] == "BrokerGoneError", probe
        assert (
            f"the section broker (pid {old['pid']}) that lent this device ended"
            in (probe["error"]["msg"])
        )


def test_holders_of_a_killed_broker_close_the_vfio_fds_it_lent(run: Report) -> None:
    a, b, before, held_before, a_fds, b_fds, group_holders = _step(
        run, "a", "b", "a_fds_before", "group_holders_before", "a_fds", "b_fds", "group_holders"
    )
    # While the broker lived, the holder had its container, group and device fds.
    assert {"/dev/vfio/vfio", "anon_inode:[vfio-device]"} <= set(before["fds"]), before
    assert any(re.fullmatch(r"/dev/vfio/\d+", fd) for fd in before["fds"]), before
    assert {a["pid"], b["pid"]} <= {pid for pid, _ in held_before}
    assert a_fds == {"fds": []} and b_fds == {"fds": []}
    assert group_holders == []


def test_a_new_broker_lends_the_endpoint_while_the_old_holders_still_run(
    run: Report,
) -> None:
    bdf, old, c, got, alive, new = _step(
        run, "bdf", "status_both", "c", "c_open", "old_alive", "status_new"
    )
    assert alive == [True, True]
    assert got["ok"] is True, got
    assert got["broker_pid"] == new["pid"] != old["pid"]
    assert _holds(new, bdf)[1] == [c["pid"]]
