"""Host tooling: ``request_suspend`` / ``cancel_suspend`` and ``python -m fakedev suspend``.

docs/split-driver.md#suspend: the host writes a new nonzero request and waits, bounded,
until every bank the frontend holds (linked under the backend's epoch) acknowledges it
in its link. A frontend that is idle, gone or hostile costs the timeout and is named in
the result, never an exception. The frontend here is simulated by writing its links and
acknowledgements straight into the page (qathw's frontend answers for itself in its own
tests).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from fakedev.device import Device
from fakedev.suspend import cancel_suspend, request_suspend
from tests.fakedev_cli import run_fakedev
from tests.split_driver.helpers import Page, new_endpoint, serving

PATIENT = 30.0  # a timeout no passing test waits out


@pytest.fixture
def endpoint(tmp_path: Path) -> Path:
    return new_endpoint(tmp_path / "ep.qat")


@pytest.fixture
def backend(endpoint: Path) -> Iterator[Device]:
    dev = Device(endpoint)
    dev.connect()
    yield dev
    dev.disconnect()
    dev.close()


@pytest.fixture
def page(endpoint: Path) -> Iterator[Page]:
    with Page(endpoint) as p:
        yield p


def _frontend(page: Page, banks: list[int], *, answer: list[int]) -> threading.Thread:
    """A frontend holding ``banks`` that acknowledges, for the banks in ``answer``, the
    first suspend request it sees."""
    epoch = page.get("backend_epoch")
    for bank in banks:
        page.link(bank, epoch)
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(0.001):
            request = page.get("suspend_request")
            if request:
                for bank in answer:
                    page.ack(bank, request)
                return

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_with_no_frontend_there_is_nothing_to_wait_for(
    backend: Device, endpoint: Path, page: Page
) -> None:
    result = request_suspend(endpoint, timeout=PATIENT)
    assert result.banks == () and result.unanswered == () and result.complete
    assert result.waited < PATIENT  # it did not wait for anyone
    assert page.get("suspend_request") == result.request != 0


def test_banks_that_do_not_answer_are_named_after_the_timeout(
    backend: Device, endpoint: Path, page: Page
) -> None:
    for bank in range(4):
        page.link(bank, page.get("backend_epoch"))  # a frontend that then went quiet
    result = request_suspend(endpoint, timeout=0.05)
    assert result.banks == (0, 1, 2, 3) and result.unanswered == (0, 1, 2, 3)
    assert not result.complete and result.acknowledged == ()
    assert page.get("suspend_request") == result.request  # still set: resume withdraws it


def test_a_frontend_that_acknowledges_on_every_bank_completes_the_suspend(
    backend: Device, endpoint: Path, page: Page
) -> None:
    frontend = _frontend(page, [0, 1, 2, 3], answer=[0, 1, 2, 3])
    result = request_suspend(endpoint, timeout=PATIENT)
    frontend.join(PATIENT)
    assert result.complete and result.acknowledged == (0, 1, 2, 3)
    assert result.backend_epoch == page.get("backend_epoch")


def test_a_frontend_that_acknowledges_on_some_banks_only_is_not_suspended(
    backend: Device, endpoint: Path, page: Page
) -> None:
    frontend = _frontend(page, [0, 2], answer=[2])
    result = request_suspend(endpoint, timeout=0.2)
    frontend.join(PATIENT)
    assert (result.banks, result.acknowledged, result.unanswered) == ((0, 2), (2,), (0,))


def test_banks_linked_under_another_epoch_are_not_waited_for(
    backend: Device, endpoint: Path, page: Page
) -> None:
    page.link(0, page.get("backend_epoch") ^ 1)  # programmed under an earlier backend
    page.link(1, page.get("backend_epoch"))
    page.ack(1, 0)
    result = request_suspend(endpoint, timeout=0.05)
    assert result.banks == (1,) and result.unanswered == (1,)


def test_without_a_backend_epoch_no_bank_counts(endpoint: Path, page: Page) -> None:
    # epoch 0 and links 0 compare equal: yet no backend ever served the file
    result = request_suspend(endpoint, timeout=PATIENT)
    assert result.backend_epoch == 0 and result.banks == ()


def test_a_request_is_never_zero_the_previous_one_or_a_stale_acknowledgement(
    backend: Device, endpoint: Path, page: Page
) -> None:
    epoch = page.get("backend_epoch")
    page.set("suspend_request", 0xFFFF_FFFF)
    page.link(0, epoch)
    page.ack(0, 1)  # acknowledged long ago; must not answer the next request
    page.ack(1, 2)  # not even an unlinked bank's
    result = request_suspend(endpoint, timeout=0.01)
    assert result.request == 3 and result.unanswered == (0,)
    again = request_suspend(endpoint, timeout=0.01)
    assert again.request == 4


def test_a_hostile_frontend_costs_the_timeout_and_nothing_else(
    backend: Device, endpoint: Path, page: Page
) -> None:
    epoch = page.get("backend_epoch")
    for bank in range(4):
        page.link(bank, epoch)
        page.ack(bank, 0xFFFF_FFFF - bank)
    result = request_suspend(endpoint, timeout=0.05)
    assert len(result.unanswered) == 4 and result.request not in (0, *range(0xFFFF_FFFC, 1 << 32))


def test_cancel_withdraws_the_request(backend: Device, endpoint: Path, page: Page) -> None:
    request = request_suspend(endpoint, timeout=0).request
    assert cancel_suspend(endpoint) == request
    assert page.get("suspend_request") == 0
    assert cancel_suspend(endpoint) == 0  # nothing pending


@pytest.mark.parametrize("timeout", [-1.0, float("nan"), float("inf")])
def test_a_timeout_that_is_no_number_of_seconds_is_refused(endpoint: Path, timeout: float) -> None:
    with pytest.raises(ValueError, match="not a number of seconds"):
        request_suspend(endpoint, timeout=timeout)


# --- the command line -----------------------------------------------------------------


def test_suspend_and_resume_a_served_endpoint_without_a_frontend(endpoint: Path) -> None:
    with serving(endpoint):
        done = run_fakedev("suspend", str(endpoint))
        assert done.returncode == 0, done.stderr
        assert "no frontend holds a bank" in done.stdout and "resume" in done.stdout
        done = run_fakedev("resume", str(endpoint))
        assert done.returncode == 0
        assert done.stdout.startswith(f"resumed {endpoint}: suspend request ")
        done = run_fakedev("resume", str(endpoint))
        assert "no suspend request was pending" in done.stdout


def test_suspend_names_the_banks_that_did_not_answer_and_exits_1(
    backend: Device, endpoint: Path, page: Page
) -> None:
    for bank in (1, 3):
        page.link(bank, page.get("backend_epoch"))
    done = run_fakedev("suspend", str(endpoint), "--timeout", "0.05")
    assert done.returncode == 1 and done.stderr.count("\n") == 1
    assert "banks 1, 3 did not acknowledge suspend request" in done.stderr
    assert f"'python -m fakedev resume {endpoint}' withdraws it" in done.stderr
    done = run_fakedev("suspend", str(endpoint), "--timeout", "0", "--json")
    doc = json.loads(done.stdout)
    assert done.returncode == 1 and doc["unanswered"] == [1, 3] and doc["complete"] is False


def test_suspend_reports_a_frontend_that_acknowledged(
    backend: Device, endpoint: Path, page: Page
) -> None:
    frontend = _frontend(page, [0, 1], answer=[0, 1])
    done = run_fakedev("suspend", str(endpoint), "--json", "--timeout", str(PATIENT))
    frontend.join(PATIENT)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["complete"] and doc["acknowledged"] == [0, 1] and doc["request"] != 0


def _not_an_endpoint(path: Path) -> None:
    path.write_bytes(b"x" * 8192)


@pytest.mark.parametrize("command", ["suspend", "resume"])
@pytest.mark.parametrize(
    ("make", "message"),
    [
        (None, "cannot read {p}: No such file or directory"),
        (_not_an_endpoint, "not an emulated QAT endpoint"),
    ],
    ids=["missing", "not-an-endpoint"],
)
def test_a_path_that_is_no_endpoint_is_bad_input(
    tmp_path: Path, command: str, make: object, message: str
) -> None:
    path = tmp_path / "ep"
    if callable(make):
        make(path)
    before = path.read_bytes() if path.exists() else None
    done = run_fakedev(command, str(path))
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert done.stderr.startswith("fakedev: ") and message.format(p=path) in done.stderr
    assert (path.read_bytes() if path.exists() else None) == before  # nothing written


@pytest.mark.parametrize("value", ["-1", "soon", "nan", "inf"])
def test_suspend_refuses_a_timeout_that_is_no_number_of_seconds(endpoint: Path, value: str) -> None:
    done = run_fakedev("suspend", str(endpoint), "--timeout", value)
    assert done.returncode == 2
    assert f"'{value}' is not a number of seconds >= 0" in done.stderr
