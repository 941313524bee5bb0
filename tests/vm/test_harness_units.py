"""Harness pieces that need no guest: the wire format, JUnit reading, ending processes."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from vm import procs
from vm.protocol import LineBuffer, encode
from vm.results import parse_junit


def test_a_message_survives_being_split_across_reads() -> None:
    wire = encode({"id": 1, "stdout": "line one\nline two\n"}) + encode({"id": 2})
    buf = LineBuffer()
    got = [m for i in range(len(wire)) for m in buf.feed(wire[i : i + 1])]
    assert got == [{"id": 1, "stdout": "line one\nline two\n"}, {"id": 2}]


def test_a_line_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(ValueError, match="not an object"):
        LineBuffer().feed(b"[1, 2]\n")


def test_junit_outcomes_are_read_per_test() -> None:
    xml = """<testsuites><testsuite>
      <testcase classname="tests.vm.guest.t" name="test_ok" time="0.5"/>
      <testcase classname="tests.vm.guest.t" name="test_bad[x]" time="1">
        <failure message="assert 1 == 2">details</failure></testcase>
      <testcase classname="tests.vm.guest.t" name="test_skip"><skipped message="why"/></testcase>
    </testsuite></testsuites>"""
    cases = parse_junit(xml)
    assert {n: c.outcome for n, c in cases.items()} == {
        "test_ok": "passed",
        "test_bad[x]": "failed",
        "test_skip": "skipped",
    }
    assert "assert 1 == 2" in cases["test_bad[x]"].message


def test_ending_a_process_that_ignores_sigterm_kills_it() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c",
         "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
         "print('ok', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stdout.readline() == "ok\n"
    tracked = procs.Tracked.of(proc.pid)
    started = time.monotonic()
    tracked.end(grace=0.5)
    assert not tracked.alive()
    assert proc.wait(5) == -signal.SIGKILL
    assert time.monotonic() - started < 5


def test_a_recycled_pid_is_not_signalled() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        stranger = procs.Tracked(proc.pid, start_time=1)  # same pid, another start time
        assert not stranger.alive()
        stranger.end(grace=0.1)
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait()


REAPER_CHILD = """
import os, signal, subprocess, sys, time
from vm import procs
sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
tracked = procs.Tracked.of(sleeper.pid)
procs.reaper.register(lambda: tracked.end(grace=1.0))
print(sleeper.pid, flush=True)
if sys.argv[1] == "sigterm":
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(30)
"""


@pytest.mark.parametrize("ending", ["exit", "sigterm"])
def test_the_reaper_ends_tracked_processes_when_the_interpreter_ends(ending: str) -> None:
    run = subprocess.run(
        [sys.executable, "-c", REAPER_CHILD, ending], capture_output=True, text=True, timeout=60
    )
    sleeper = int(run.stdout.split()[0])
    assert run.returncode == (0 if ending == "exit" else -signal.SIGTERM)
    assert not procs.Tracked(sleeper, None).alive()
