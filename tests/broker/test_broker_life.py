"""The broker's life: started on demand once, gone after its last lease (unless told to
stay), and replaceable after it died."""

from __future__ import annotations

import os
import signal
import time

import pytest

from qathw.broker import client
from qathw.errors import BrokerUnavailableError
from tests.broker.conftest import BDFS, Rig, pid_alive, wait_until


def test_the_first_holder_starts_a_broker(rig: Rig) -> None:
    holder = rig.holder()
    assert holder.hello["broker_pid"] == rig.broker_pid()


def test_concurrent_first_holders_start_one_broker(rig: Rig) -> None:
    holders = rig.holders(4)  # all start before any hello is read
    assert {h.hello["broker_pid"] for h in holders} == {rig.broker_pid()}


def test_the_broker_exits_after_its_last_lease(rig: Rig) -> None:
    holder = rig.holder()
    broker = holder.hello["broker_pid"]
    holder.ask("close")
    wait_until("the broker exited", lambda: not pid_alive(broker))
    assert not rig.socket.exists()


def test_a_broker_with_negative_linger_stays_after_its_last_lease(rig: Rig) -> None:
    broker = rig.start_broker(linger=-1)
    holder = rig.holder(start=False)
    holder.ask("close")
    wait_until("the lease ended", lambda: _ended(rig) == 1)
    time.sleep(1.0)  # far longer than the 0.2 s linger the other tests' brokers use
    assert broker.poll() is None
    assert _ended(rig) == 1


def _ended(rig: Rig) -> int:
    status = client.status(runtime_dir=rig.runtime_dir)
    return -1 if status is None else status.ended_leases


def test_after_the_broker_is_killed_the_lease_is_not_alive(rig: Rig) -> None:
    holder = rig.holder()
    holder.ask(f"lend {BDFS[0]}")
    assert holder.ask("alive") == {"alive": True}
    os.kill(holder.hello["broker_pid"], signal.SIGKILL)
    wait_until("the session saw the broker go", lambda: holder.ask("alive") == {"alive": False})


def test_after_the_broker_is_killed_the_next_request_says_it_ended(rig: Rig) -> None:
    holder = rig.holder()
    broker = holder.hello["broker_pid"]
    os.kill(broker, signal.SIGKILL)
    wait_until("the broker died", lambda: not pid_alive(broker))
    answer = holder.ask(f"lend {BDFS[1]}")
    assert answer["error"] == "BrokerGoneError"
    assert f"pid {broker}" in answer["message"]
    assert "restart the process" in answer["message"]


def test_a_new_broker_starts_over_a_killed_ones_socket(rig: Rig) -> None:
    first = rig.holder()
    dead = first.hello["broker_pid"]
    os.kill(dead, signal.SIGKILL)
    wait_until("the broker died", lambda: not pid_alive(dead))
    first.kill()
    assert rig.socket.exists()  # the stale socket file is still there
    second = rig.holder()
    assert second.hello["broker_pid"] not in (dead, None)
    assert second.ask(f"lend {BDFS[0]}")["device"] == f"device {BDFS[0]}"


def test_without_start_no_broker_is_a_clear_error(rig: Rig) -> None:
    with pytest.raises(BrokerUnavailableError, match="no section broker"):
        client.connect(runtime_dir=rig.runtime_dir, start=False)


def test_a_status_visit_does_not_start_the_linger_of_a_broker_without_leases(rig: Rig) -> None:
    broker = rig.start_broker(linger=0.2)
    assert client.status(runtime_dir=rig.runtime_dir) is not None
    time.sleep(1.0)  # far longer than the linger, far shorter than the idle exit
    assert rig.holder(start=False).hello["broker_pid"] == broker.pid


def test_status_polling_does_not_keep_a_lingering_broker_up(rig: Rig) -> None:
    broker = rig.start_broker(linger=0.5)
    rig.holder(start=False).ask("close")
    # Each poll is a status connection; were it a lease, each would restart the linger.
    wait_until(
        "the broker exited while polled",
        lambda: client.status(runtime_dir=rig.runtime_dir) is None and broker.poll() is not None,
    )
    assert broker.returncode == 0


def test_a_broker_nobody_borrows_from_exits_after_its_idle_time(rig: Rig) -> None:
    broker = rig.start_broker(0.2, "--idle-exit", "0.5")
    assert client.status(runtime_dir=rig.runtime_dir) is not None
    assert broker.wait(timeout=30) == 0
    assert "no holder came for 0.5 s" in (rig.state / "broker.err").read_text()
