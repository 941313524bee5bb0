"""The broker speaks on a lent VF's PF/VF mailbox for its holders: one handshake, relayed
PF notifications, RESTARTING_COMPLETE once every holder quiesced.

Real processes: a fake broker whose endpoint is an emulated 4xxxvf file, fakedev's
backend serving that file (its PF agent answers the mailbox), and holder processes.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from fakedev import endpoint_file
from tests.broker.conftest import BDFS, ROOT, Holder, Rig, wait_until

HANDSHAKE = "PF/VF handshake done for its holders"
AGAIN = "PF/VF handshake done again"


@dataclass
class VfRig:
    rig: Rig
    path: Path

    def log(self) -> str:
        return (self.rig.state / "broker.err").read_text(errors="replace")

    def holders(self, count: int) -> list[Holder]:
        return self.rig.holders(count, start=False)

    def inject(self, fault: str) -> None:
        cmd = [sys.executable, "-m", "fakedev", "inject", str(self.path), fault]
        subprocess.run(cmd, cwd=ROOT, check=True, timeout=30)


@pytest.fixture
def vf(rig: Rig) -> Iterator[VfRig]:
    path = rig.state / "vf.qat"
    endpoint_file.create(path, "4xxxvf", size=4 << 20)
    backend = subprocess.Popen(
        [sys.executable, "-m", "fakedev", "serve", str(path)], cwd=ROOT, stderr=subprocess.PIPE
    )
    rig.procs.append(backend)
    status = [sys.executable, "-m", "fakedev", "status", str(path), "--wait", "30"]
    subprocess.run(status, cwd=ROOT, check=True, timeout=60, capture_output=True)
    rig.start_broker(0.2, "--ivshmem", f"{BDFS[0]}={path}", "--mailbox", BDFS[0])
    yield VfRig(rig, path)


def restarting_seq(holder: Holder) -> int:
    """Wait for the broker to relay RESTARTING to ``holder``; its sequence number."""
    seen: list[list[object]] = []

    def relayed() -> bool:
        seen.extend(holder.ask(f"events {BDFS[0]}")["events"])
        return any(name == "restarting" for _, name in seen)

    wait_until("RESTARTING relayed", relayed)
    return next(int(str(seq)) for seq, name in seen if name == "restarting")


def test_holders_of_one_vf_share_the_brokers_one_handshake(vf: VfRig) -> None:
    first, second = vf.holders(2)
    answers = [first.ask(f"lend {BDFS[0]}"), second.ask(f"lend {BDFS[0]}")]
    assert [a["pf"] for a in answers] == [answers[0]["pf"]] * 2, answers
    assert answers[0]["pf"]["version"] == 5
    assert answers[0]["pf"]["ring_service_map"] == 0x071C  # sym;asym, the backend's default
    assert vf.log().count(HANDSHAKE) == 1


def test_a_function_without_a_mailbox_is_lent_without_a_pf_record(vf: VfRig) -> None:
    (holder,) = vf.holders(1)
    assert holder.ask(f"lend {BDFS[1]}")["pf"] is None


def test_restarting_reaches_every_holder(vf: VfRig) -> None:
    holders = vf.holders(2)
    for h in holders:
        h.ask(f"lend {BDFS[0]}")
    vf.inject("restart")
    for h in holders:
        assert restarting_seq(h) > 0


def test_the_function_restarts_only_after_the_last_holder_quiesced(vf: VfRig) -> None:
    holders = vf.holders(2)
    for h in holders:
        h.ask(f"lend {BDFS[0]}")
    vf.inject("restart")
    seqs = [restarting_seq(h) for h in holders]
    holders[0].ask(f"ack {BDFS[0]} {seqs[0]}")
    time.sleep(1.0)  # the PF would remove the function now if the broker had answered
    assert AGAIN not in vf.log()
    holders[1].ask(f"ack {BDFS[0]} {seqs[1]}")
    wait_until("the broker spoke to the returned function", lambda: AGAIN in vf.log())
