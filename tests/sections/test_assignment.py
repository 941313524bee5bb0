"""user_start / user_stop with real processes: the seed's two-endpoint scenario."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from qathw.sections import list_sections
from tests.sections.procs import Proc, start

SSL_NAMES = [f"SSL_DEV{d}_INT_{i}" for d in (0, 1) for i in range(4)]


@pytest.fixture
def nine(seed_env: Path) -> Iterator[list[Proc]]:
    """Eight processes that started "SSL" and one that started "IPSec"."""
    procs = [start("SSL") for _ in range(8)] + [start("IPSec")]
    yield procs
    for p in procs:
        p.stop()


def test_eight_ssl_processes_each_hold_a_different_section_with_one_instance(
    nine: list[Proc],
) -> None:
    reports = [p.report() for p in nine[:8]]
    assert sorted(r.section or "" for r in reports) == SSL_NAMES
    for r in reports:
        device = int((r.section or "")[7])
        assert r.instances == ((device, "SSL0"),)


def test_the_ipsec_process_gets_eight_instances_four_on_each_device(nine: list[Proc]) -> None:
    r = nine[8].report()
    assert r.section == "IPSec_INT_0"
    assert r.instances == tuple((d, f"IPSec{n}") for d in (0, 1) for n in range(4))


def test_a_ninth_ssl_process_is_told_all_8_are_taken_and_by_whom(nine: list[Proc]) -> None:
    pids = {p.report().pid for p in nine[:8]}
    ninth = start("SSL")
    r = ninth.report()
    ninth.stop()
    assert r.error_type == "SectionsExhaustedError" and r.section is None
    assert r.error is not None and r.error.startswith(
        "all 8 internal sections of [SSL] are taken (SSL_DEV0_INT_0 by pid "
    )
    assert all(f"by pid {pid}" in r.error for pid in pids)


def test_a_section_whose_holder_is_killed_is_free_again_within_a_second(
    nine: list[Proc],
) -> None:
    holders = {p.report().section: p for p in nine}
    victim = holders["SSL_DEV0_INT_1"]
    os.kill(victim.process.pid or 0, signal.SIGKILL)
    killed = time.monotonic()
    victim.process.join()
    got = None
    while got is None and time.monotonic() - killed < 1.0:
        p = start("SSL")
        r = p.report()
        if r.section is not None:
            got = (r.section, p)
        else:
            p.stop()
    assert got is not None and got[0] == "SSL_DEV0_INT_1"
    assert time.monotonic() - killed < 1.0
    got[1].stop()


def test_qathw_sections_sees_every_holder(nine: list[Proc], seed_env: Path) -> None:
    by_section = {r.section: r.pid for r in (p.report() for p in nine)}
    _, statuses = list_sections()
    assert {s.section.name: s.holder.pid if s.holder else None for s in statuses} == by_section
    assert all(
        s.holder and s.holder.alive and "python" in (s.holder.command or "") for s in statuses
    )
