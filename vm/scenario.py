"""The split driver's scenario, end to end: a verified workload through host events.

The frontend runs :mod:`vm.workload` (a verified mixed workload with a large in-place
request in it) while the host does to its backend what an operator would:

* **backend crash**: ``kill -9`` of the backend, a new one started on the same file;
* **backend switch** (host run only): a planned one: suspend the frontend
  (``fakedev.suspend``), stop the backend, start a new one;
* **live migration** (guest run): suspend, then the guest moves to a new QEMU whose
  endpoint is a new file with a new backend;
* **save + restore** (guest run): suspend, save the guest to a file, restore it into a
  third QEMU with its own endpoint file and backend.

Each event is bracketed by two snapshots of the workload's books (taken just before it,
and once it settled: everything in flight then has an outcome and new requests complete),
and the run ends with the workload stopping and draining. :mod:`vm.verdict` turns them
into one row per event and the verdict: pass = 0 lost, 0 duplicated, 0 wrong.

:func:`host_scenario` runs it on this host (a fake sysfs tree, the workload as a host
process); :func:`guest_scenario` in a migratable QEMU guest, through VFIO. ``python -m vm
demo`` prints either.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from fakedev import endpoint_file, running
from fakedev.hostspec import Endpoint, Section, config_text, plan_endpoints
from fakedev.suspend import SuspendResult, request_suspend
from vm import procs, workload
from vm.agentclient import AgentClient
from vm.backend import HostProcess, fakedev_backend
from vm.errors import VmError
from vm.guest import PROJECT_ROOT
from vm.host import missing_reason
from vm.ledger import (
    FINAL,
    READY,
    STOP,
    WANT_PREFIX,
    LedgerError,
    Snapshot,
    check_label,
    snapshot_path,
)
from vm.migratable import MigratableGuest, MigratableSpec, MigrationTuning
from vm.verdict import EventRow, Verdict, event_row, judge, render, settled, whole_run

#: The endpoint every backend of the scenario serves: a gen4 VF serving sym and dc, 64 MiB
#: (16 MiB of device memory per bank: room for the large in-place buffer).
SERVICES = "sym;dc"
ENDPOINT = Endpoint("4xxxvf", SERVICES, size=64 << 20)
#: The section the workload holds: one Cy and one Dc instance.
SECTION = Section(workload.SECTION, cy=1, dc=1)
SETTLE_TIMEOUT = 30.0  # seconds an event may take to settle before the run goes on
SUSPEND_TIMEOUT = 5.0  # seconds the frontend may take to acknowledge a suspend
ASK_TIMEOUT = 30.0  # seconds the workload may take to answer a snapshot request
DRAIN = 10.0  # seconds the workload waits for requests in flight when it stops
READY_TIMEOUT = 120.0  # seconds the workload may take to open its section and complete one
LOCK_RELEASE_TIMEOUT = 10.0  # seconds a killed backend's lock may take to be released
PAUSE = 1.0  # seconds the workload runs undisturbed before each event
INPLACE_WAIT = 5.0  # seconds to wait for the in-place request to be in flight at an event


class ScenarioError(VmError):
    """The scenario cannot go on (the message says where it stopped and why)."""


class WorkloadClient(Protocol):
    """The host's end of a running :mod:`vm.workload`."""

    def ask(self, label: str, timeout: float = ASK_TIMEOUT) -> Snapshot:
        """A snapshot of the books now, named ``label``."""
        ...

    def stop(self, timeout: float) -> Snapshot:
        """Stop submitting, drain, and return the final snapshot."""
        ...


# --- the workload as a host process -------------------------------------------------------------


class LocalWorkload:
    """``python -m vm.workload`` as a process of this host, controlled through files.

    Args:
        env: the environment it runs in (a fake host's, say).
        control: its control directory (made if missing).
        extra: more arguments for it (``--inplace-mib 1``...).

    Raises:
        ScenarioError: it exited or did not complete a request within ``ready_timeout``.
    """

    def __init__(
        self,
        env: Mapping[str, str],
        control: Path,
        *,
        extra: tuple[str, ...] = (),
        drain: float = DRAIN,
        ready_timeout: float = READY_TIMEOUT,
    ) -> None:
        self.control = control
        control.mkdir(parents=True, exist_ok=True)
        self._log = control / "workload.log"
        argv = [sys.executable, "-m", "vm.workload", "--control", str(control)]
        argv += ["--drain", f"{drain:g}", *extra]
        with self._log.open("wb") as log:
            self._proc = subprocess.Popen(
                argv,
                cwd=PROJECT_ROOT,
                env={**os.environ, **env},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        self._tracked = procs.Tracked.of(self._proc.pid)
        self._token = procs.reaper.register(self.kill)
        self._drain = drain
        try:
            self._wait_for(READY, ready_timeout)
        except BaseException:
            self.kill()
            raise

    @property
    def pid(self) -> int:
        return self._proc.pid

    def _wait_for(self, label: str, timeout: float) -> Snapshot:
        path = snapshot_path(self.control, label)
        deadline = time.monotonic() + timeout
        while not path.exists():
            if self._proc.poll() is not None:
                raise ScenarioError(
                    f"the workload exited ({self._proc.returncode}) before answering "
                    f"{label!r}: {self.output()[-2000:]}"
                )
            if time.monotonic() > deadline:
                raise ScenarioError(f"the workload did not answer {label!r} within {timeout:g} s")
            time.sleep(0.005)
        try:
            return Snapshot.from_json(path.read_text())
        except LedgerError as exc:
            raise ScenarioError(f"the workload's answer to {label!r}: {exc}") from None

    def ask(self, label: str, timeout: float = ASK_TIMEOUT) -> Snapshot:
        check_label(label)
        snapshot_path(self.control, label).unlink(missing_ok=True)
        (self.control / f"{WANT_PREFIX}{label}").touch()
        return self._wait_for(label, timeout)

    def stop(self, timeout: float | None = None) -> Snapshot:
        (self.control / STOP).touch()
        final = self._wait_for(FINAL, self._drain + 30.0 if timeout is None else timeout)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(10.0)
        self.kill()
        return final

    def output(self) -> str:
        """What it wrote on stderr so far."""
        return self._log.read_text(errors="replace") if self._log.exists() else ""

    def kill(self) -> None:
        """End it by pid (SIGTERM, then SIGKILL). Idempotent."""
        self._tracked.end(grace=5.0)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(5.0)
        procs.reaper.unregister(self._token)


# --- the workload in a guest ------------------------------------------------------------------


def _wait_file(path: str, pid: int, log: str, timeout: float) -> str:
    """A guest shell line: wait for ``path`` (while ``pid`` lives), then print it.

    Exit 3: it did not come in time; 4: the workload exited first (its log is printed).
    """
    tries = max(1, int(timeout / 0.02))
    return (
        f"i=0; while [ ! -e {path} ]; do "
        f"if ! kill -0 {pid} 2>/dev/null; then cat {log} >&2; exit 4; fi; "
        f"i=$((i+1)); if [ $i -gt {tries} ]; then exit 3; fi; sleep 0.02; done; cat {path}"
    )


class GuestWorkload:
    """``python -m vm.workload --vfio`` running in a guest, controlled through its agent.

    The guest gets the configuration file of :data:`ENDPOINT` and :data:`SECTION` under
    ``directory``; the workload runs detached (the agent serves one command at a time),
    and each snapshot is one guest command that asks and waits for the answer.

    Args:
        guest: the guest's agent (it may move to another QEMU between calls).
        directory: a directory in the guest for the files (made).
        extra: more arguments for the workload.

    Raises:
        ScenarioError: it could not start, or completed no request within
            ``ready_timeout``.
    """

    def __init__(
        self,
        guest: AgentClient,
        directory: str = "/tmp/qathw-workload",
        *,
        extra: tuple[str, ...] = (),
        drain: float = DRAIN,
        ready_timeout: float = READY_TIMEOUT,
    ) -> None:
        self.guest = guest
        self.directory = directory
        self.control = f"{directory}/control"
        self._log = f"{directory}/workload.log"
        self._drain = drain
        planned = plan_endpoints([ENDPOINT])[0]
        etc = f"{directory}/etc"
        conf = f"{etc}/{planned.kind}_dev0.conf"  # the guest's one endpoint is qat_dev0
        guest.run(
            f"rm -rf {directory} && mkdir -p {etc} {self.control} && cat > {conf}",
            input=config_text(planned, [SECTION]),
            timeout=30,
            check=True,
        )
        argv = [sys.executable, "-m", "vm.workload", "--vfio", "--control", self.control]
        argv += ["--config-dir", etc, "--runtime-dir", f"{directory}/run"]
        argv += ["--drain", f"{drain:g}", *extra]
        # In a subshell that says how the workload ended: a signal leaves no other trace.
        said = 'echo "vm.workload: exit status $?"'
        line = f"({shlex.join(argv)}; {said}) </dev/null >{self._log} 2>&1 & echo $!"
        started = guest.run(line, timeout=30, check=True)
        self.pid = int(started.stdout.split()[-1])
        self._fetch(READY, ready_timeout)

    def _fetch(self, label: str, timeout: float, first: str = "") -> Snapshot:
        wait = _wait_file(f"{self.control}/{label}.json", self.pid, self._log, timeout)
        result = self.guest.run(first + wait, timeout=timeout + 30)
        if result.rc == 4:
            raise ScenarioError(
                f"the workload in the guest exited before answering {label!r}:\n"
                f"{result.stderr[-3000:]}"
            )
        if not result.ok:
            raise ScenarioError(
                f"the workload in the guest did not answer {label!r} within {timeout:g} s "
                f"(rc {result.rc}): {result.stderr[-2000:]}"
            )
        try:
            return Snapshot.from_json(result.stdout)
        except LedgerError as exc:
            raise ScenarioError(f"the guest workload's answer to {label!r}: {exc}") from None

    def ask(self, label: str, timeout: float = ASK_TIMEOUT) -> Snapshot:
        check_label(label)
        path = f"{self.control}/{label}.json"
        return self._fetch(
            label, timeout, f"rm -f {path}; touch {self.control}/{WANT_PREFIX}{label}; "
        )

    def stop(self, timeout: float | None = None) -> Snapshot:
        limit = self._drain + 30.0 if timeout is None else timeout
        return self._fetch(FINAL, limit, f"touch {self.control}/{STOP}; ")

    def output(self) -> str:
        """What the workload wrote on stderr so far."""
        return self.guest.run(f"cat {self._log}", timeout=30).stdout

    def kill(self) -> None:
        """End the workload by pid (best effort: the guest may be gone)."""
        children = f"/proc/{self.pid}/task/{self.pid}/children"
        with contextlib.suppress(VmError):
            self.guest.run(f"kill $(cat {children}) 2>/dev/null", timeout=30)


# --- events -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventTimes:
    """What an event measured besides the requests."""

    migration_ms: float | None = None
    downtime_ms: float | None = None
    note: str = ""


@dataclass(frozen=True)
class Bracket:
    """One event between its two snapshots."""

    event: str
    before: Snapshot
    after: Snapshot
    times: EventTimes

    def row(self, final: Snapshot) -> EventRow:
        return event_row(
            self.event,
            self.before,
            self.after,
            final,
            migration_ms=self.times.migration_ms,
            downtime_ms=self.times.downtime_ms,
            note=self.times.note,
        )


def settle(
    client: WorkloadClient, before: Snapshot, label: str, timeout: float = SETTLE_TIMEOUT
) -> tuple[Snapshot, str]:
    """Ask for snapshots until the event after ``before`` settled (or ``timeout``).

    Returns:
        The last snapshot, and a note when the event did not settle in time.
    """
    start = time.monotonic()
    n = 0
    while True:
        n += 1
        after = client.ask(f"{label}-{n}")
        if settled(before, after):
            return after, ""
        waited = time.monotonic() - start
        if waited >= timeout:
            stuck = sorted(set(before.pending) & set(after.pending))
            return after, (
                f"did not settle within {timeout:g} s: {len(stuck)} requests in flight at the "
                f"event still had no outcome, {after.completed - before.completed} completed since"
            )
        time.sleep(min(0.05 * n, 0.5))


@dataclass
class Run:
    """A scenario in progress: its workload, its events so far, where to report."""

    client: WorkloadClient
    say: Callable[[str], None] = print
    settle_timeout: float = SETTLE_TIMEOUT
    pause: float = PAUSE
    brackets: list[Bracket] = field(default_factory=list)

    def event(self, name: str, action: Callable[[], EventTimes]) -> Bracket:
        """Bracket ``action`` (what the host does) with snapshots; keep and return it.

        The workload first runs undisturbed for ``pause`` seconds; then the event waits
        (a few seconds at most) for a moment when the large in-place request is in flight.
        """
        slug = name.replace(" ", "-").replace("+", "and")
        n = len(self.brackets) + 1
        time.sleep(self.pause)
        before = self._before(f"before-{n}-{slug}")
        self.say(f"{n}. {name}: {before.completed} requests done, {len(before.pending)} in flight")
        times = action()
        after, late = settle(self.client, before, f"after-{n}-{slug}", self.settle_timeout)
        note = "; ".join(t for t in (times.note, late) if t)
        times = EventTimes(times.migration_ms, times.downtime_ms, note)
        bracket = Bracket(name, before, after, times)
        self.say(f"   settled: {after.completed} requests done{f' ({note})' if note else ''}")
        self.brackets.append(bracket)
        return bracket

    def _before(self, label: str) -> Snapshot:
        deadline = time.monotonic() + INPLACE_WAIT
        k = 0
        while True:
            k += 1
            snap = self.client.ask(f"{label}-{k}")
            if snap.pending_kinds.get(workload.INPLACE) or time.monotonic() > deadline:
                return snap
            time.sleep(0.002)

    def finish(self, drain: float = DRAIN) -> ScenarioResult:
        """Stop the workload; the result."""
        final = self.client.stop(drain + 30.0)
        return ScenarioResult(tuple(self.brackets), final)


@dataclass(frozen=True)
class ScenarioResult:
    """Every event's bracket and the final snapshot."""

    brackets: tuple[Bracket, ...]
    final: Snapshot

    @property
    def rows(self) -> tuple[EventRow, ...]:
        return (*(b.row(self.final) for b in self.brackets), whole_run(self.final))

    @property
    def verdict(self) -> Verdict:
        return judge(self.rows, self.final)

    def table(self) -> str:
        """The table and the verdict, as printed."""
        lines = [render(self.rows), "", str(self.verdict)]
        if self.final.samples:
            lines += ["", "first wrong results and errors:"]
            lines += [f"  {s}" for s in self.final.samples]
        return "\n".join(lines)


class Backend:
    """The backend process serving the scenario's endpoint now (the events replace it).

    Args:
        path: the endpoint file.
        pid: a process already serving it, started by someone else (``fakedev.running``).
        process: a process already serving it, started with :func:`fakedev_backend`.

    With neither, a backend is started on ``path`` now.
    """

    def __init__(
        self, path: Path, *, pid: int | None = None, process: HostProcess | None = None
    ) -> None:
        self.path = path
        self.process = process
        if process is not None:
            self.pid = process.pid
        elif pid is not None:
            self.pid = pid
        else:
            self.pid = self._start()
        self.running = True

    def _start(self) -> int:
        self.process = fakedev_backend(self.path, services=SERVICES)
        self.running = True
        return self.process.pid

    def serve(self, path: Path) -> None:
        """Start a new backend on ``path`` (the endpoint's file from now on)."""
        if self.running:
            raise ScenarioError(f"backend {self.pid} still serves {self.path}: stop it first")
        self.path = path
        self.pid = self._start()

    def crash(self) -> EventTimes:
        """``kill -9`` the backend, start a new one on the same file."""
        os.kill(self.pid, signal.SIGKILL)
        self._wait_released(LOCK_RELEASE_TIMEOUT)
        if self.process is not None:
            self.process.stop()  # reaps it
        self.running = False
        old = self.pid
        started = time.monotonic()
        self.serve(self.path)
        ready_ms = (time.monotonic() - started) * 1e3
        return EventTimes(note=f"killed pid {old}; pid {self.pid} serving in {ready_ms:.0f} ms")

    def switch(self) -> EventTimes:
        """A planned switch: suspend the frontend, stop the backend, start a new one."""
        suspended = suspend(self.path)
        old = self.pid
        self.stop()
        self.serve(self.path)
        return EventTimes(note=f"{describe(suspended)}; pid {old} stopped, pid {self.pid} serving")

    def stop(self) -> None:
        """Stop the backend (SIGTERM: it says CLOSED) and wait for it. Idempotent."""
        if not self.running:
            return
        self.running = False
        if self.process is not None:
            self.process.stop()
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGTERM)
        with contextlib.suppress(ScenarioError):
            self._wait_released(LOCK_RELEASE_TIMEOUT)

    def _wait_released(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while endpoint_file.holder_pid(self.path) == self.pid:  # until the kernel drops it
            if time.monotonic() > deadline:
                raise ScenarioError(f"backend {self.pid} still holds {self.path}")
            time.sleep(0.002)


def suspend(path: Path) -> SuspendResult:
    """Ask the frontend of ``path`` to suspend (bounded wait)."""
    return request_suspend(path, timeout=SUSPEND_TIMEOUT)


def describe(result: SuspendResult) -> str:
    """A suspend's outcome in words."""
    ms = result.waited * 1e3
    if result.complete:
        return f"suspended in {ms:.0f} ms ({len(result.banks)} banks acknowledged)"
    return (
        f"suspend NOT acknowledged by banks {list(result.unanswered)} after {ms:.0f} ms "
        "(the backend was replaced anyway)"
    )


# --- the host run -----------------------------------------------------------------------------


@contextlib.contextmanager
def _directory(directory: Path | None) -> Iterator[Path]:
    if directory is not None:
        yield directory
        return
    shm = "/dev/shm" if os.path.isdir("/dev/shm") else None
    with tempfile.TemporaryDirectory(prefix="qathw-scenario-", dir=shm) as tmp:
        yield Path(tmp)


def host_scenario(
    *,
    events: tuple[str, ...] = ("crash", "switch"),
    directory: Path | None = None,
    inplace_mib: float = 4.0,
    resubmit: bool = True,
    settle_timeout: float = SETTLE_TIMEOUT,
    pause: float = PAUSE,
    drain: float = DRAIN,
    say: Callable[[str], None] = print,
) -> ScenarioResult:
    """The scenario on this host: a fake host, the workload as a host process.

    Args:
        events: ``crash`` and ``switch``, in the order given.
        directory: where everything goes (default: a temporary directory, removed).
        inplace_mib: size of the workload's in-place request.
        resubmit: the frontend replays what the rule allows (false: the seed's discard
            policy, every request lost to a restart fails).
        settle_timeout: seconds an event may take to settle.
        pause: seconds the workload runs undisturbed before each event.
        drain: seconds the workload waits for requests in flight when it stops.
        say: where progress goes.

    Raises:
        ScenarioError: the workload could not start or answer.
        FakeHostError: the fake host could not be built.
    """
    unknown = [e for e in events if e not in ("crash", "switch")]
    if unknown:
        raise ValueError(f"host events are 'crash' and 'switch', not {unknown}")
    with (
        _directory(directory) as where,
        running([ENDPOINT], [SECTION], directory=where / "host") as host,
    ):
        backend = Backend(host.endpoints[0].path, pid=host.endpoints[0].pid)
        say(f"fake host: {ENDPOINT.kind} endpoint {backend.path}, backend pid {backend.pid}")
        extra = ("--inplace-mib", f"{inplace_mib:g}") + (() if resubmit else ("--no-resubmit",))
        client = LocalWorkload(host.env, where / "control", extra=extra, drain=drain)
        try:
            say(f"workload pid {client.pid} running (verified mix, {inplace_mib:g} MiB in place)")
            run = Run(client, say, settle_timeout, pause)
            for name in events:
                if name == "crash":
                    run.event("backend crash", backend.crash)
                else:
                    run.event("backend switch", backend.switch)
            return run.finish(drain)
        finally:
            client.kill()
            backend.stop()


# --- the guest run ---------------------------------------------------------------------------


def new_file(directory: Path, like: Path, name: str) -> Path:
    """A new endpoint file of ``like``'s kind and size, for the next QEMU of the guest."""
    info = endpoint_file.read_info(like)
    path = directory / name
    endpoint_file.create(path, info.kind.class_name, size=info.windows.total_size)
    return path


def migration(
    guest: MigratableGuest,
    backend: Backend,
    directory: Path,
    *,
    tuning: MigrationTuning | None = None,
) -> Callable[[], EventTimes]:
    """The live migration event: suspend the frontend, then move the guest to a new QEMU
    on a new endpoint file; the old backend stops right before QEMU starts migrating, the
    new one starts on the new file once the guest runs there."""

    def action() -> EventTimes:
        target = new_file(directory, backend.path, f"ep-{time.monotonic_ns()}.qat")
        suspended = suspend(backend.path)
        old = backend.pid

        def after() -> None:
            backend.serve(target)

        report = guest.migrate([target], before=backend.stop, after=after, tuning=tuning)
        note = (
            f"{describe(suspended)}; {report.transferred_bytes / 1e6:.0f} MB sent, "
            f"{report.wall_ms:.0f} ms wall; backend pid {old} stopped, pid {backend.pid} "
            f"on {target.name}"
        )
        return EventTimes(float(report.total_ms), float(report.downtime_ms), note)

    return action


def save_and_restore(
    guest: MigratableGuest, backend: Backend, directory: Path
) -> Callable[[], EventTimes]:
    """The save + restore event: suspend the frontend, stop the backend, save the guest to
    a file, restore it into a new QEMU on a new endpoint file whose backend starts before
    the guest runs again. Time = save + restore; downtime = the guest stopped, by the
    host's clock."""

    def action() -> EventTimes:
        target = new_file(directory, backend.path, f"ep-{time.monotonic_ns()}.qat")
        suspended = suspend(backend.path)
        old = backend.pid
        stopped = time.monotonic()
        saved = guest.save(directory / f"guest-{time.monotonic_ns()}.sav", before=backend.stop)

        def after() -> None:
            backend.serve(target)

        try:
            restored = guest.restore(saved.path, [target], after=after)
        finally:
            saved.path.unlink(missing_ok=True)
        down = (time.monotonic() - stopped) * 1e3
        note = (
            f"{describe(suspended)}; saved {saved.size_bytes / 1e6:.0f} MB in "
            f"{saved.wall_ms:.0f} ms, restored in {restored.wall_ms:.0f} ms; backend pid {old} "
            f"stopped, pid {backend.pid} on {target.name}"
        )
        return EventTimes(saved.wall_ms + restored.wall_ms, down, note)

    return action


def guest_scenario(
    guest: MigratableGuest,
    backend: Backend,
    directory: Path,
    *,
    inplace_mib: float = 4.0,
    depth: int = 16,
    tuning: MigrationTuning | None = None,
    settle_timeout: float = SETTLE_TIMEOUT,
    pause: float = PAUSE,
    drain: float = DRAIN,
    say: Callable[[str], None] = print,
) -> ScenarioResult:
    """The scenario in a migratable guest: the workload through VFIO on the guest's one
    endpoint; a backend crash, a live migration, a save and restore.

    Args:
        guest: a booted migratable guest whose one endpoint ``backend`` serves.
        backend: the backend of that endpoint; the events replace it, and it serves the
            guest's last endpoint file when this returns (the caller stops it).
        directory: where the new endpoint files and the saved guest go (host).
        inplace_mib: size of the workload's in-place request (it must fit the endpoint's
            bank memory: a quarter of a 4xxx VF's device memory).
        depth: requests the workload keeps in flight.
        tuning: migration settings (default: the guest's).
        settle_timeout / pause / drain / say: as for :func:`host_scenario`.

    Raises:
        ScenarioError: the workload could not start or answer.
        VmError: a migration, save or restore failed.
    """
    extra = ("--inplace-mib", f"{inplace_mib:g}", "--depth", str(depth))
    client = GuestWorkload(guest, extra=extra, drain=drain)
    try:
        say(f"workload pid {client.pid} in the guest (verified mix, {inplace_mib:g} MiB in place)")
        run = Run(client, say, settle_timeout, pause)
        run.event("backend crash", backend.crash)
        run.event("live migration", migration(guest, backend, directory, tuning=tuning))
        run.event("save + restore", save_and_restore(guest, backend, directory))
        return run.finish(drain)
    finally:
        client.kill()


def guest_demo(say: Callable[[str], None] = print) -> ScenarioResult | None:
    """Boot a migratable guest with one emulated endpoint and run :func:`guest_scenario`;
    ``None`` (said on stderr) when no guest can boot here."""
    reason = missing_reason(vng=False)
    if reason:
        print(
            f"python -m vm demo boots a QEMU guest, and {reason}\n"
            "(python -m vm demo --host-only runs the host part without one)",
            file=sys.stderr,
        )
        return None
    say("split driver scenario in a QEMU guest (TCG; boot about a minute): the verified")
    say("workload through VFIO on an emulated 4xxx VF served by python -m fakedev serve;")
    say("a backend crash, a live migration to a new QEMU, endpoint file and backend, then")
    say("a save and a restore into a third QEMU")
    say("")
    with _directory(None) as where:
        first = where / "ep-first.qat"
        endpoint_file.create(first, ENDPOINT.kind, size=ENDPOINT.size)
        backend = Backend(first)
        try:
            with MigratableGuest(MigratableSpec(shared_memory=(first,))) as guest:
                return guest_scenario(guest, backend, where, say=say)
        finally:
            backend.stop()


# --- python -m vm demo ---------------------------------------------------------------------------


def demo(*, host_only: bool = False) -> int:
    """``python -m vm demo``: run the scenario, print the table and the verdict.

    Returns:
        0 when it passed, 1 when it failed, 2 when no guest can boot here (the message
        says why; ``--host-only`` runs without one).
    """
    result: ScenarioResult | None
    if host_only:
        print("split driver scenario on this host: a fake 4xxx VF served by python -m fakedev")
        print("serve; the verified workload as its own process; a backend crash, then a")
        print("planned backend switch (suspend, stop, new backend)")
        print()
        result = host_scenario()
    else:
        result = guest_demo()
    if result is None:
        return 2
    print()
    print(result.table())
    return 0 if result.verdict.passed else 1
