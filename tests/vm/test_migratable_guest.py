"""The migratable guest profile: one guest, booted once, that moves between QEMU processes.

The guest (Debian's kernel and an initramfs built from this host's files, TCG, q35 with
``sata=off``, intel-iommu) sees one emulated 4xxx VF as an ivshmem-plain function, binds
it to vfio-pci and encrypts with ``qathw sample cipher`` (verified against
``cryptography``) through a ``python -m fakedev serve`` backend on the host. Then, in
this order, on the same guest object:

1. a live migration to a second QEMU whose endpoint is a new file: the hooks stop
   backend A before it and start backend B on the new file after it;
2. a save to a file (backend B stopped), refused restores, and a restore into a third
   QEMU on a third file with backend C started before the guest runs again.

After each step the guest completes requests through VFIO on the new backend. While it
migrates, a guest process (``python -m vm.memcheck``) keeps writing pages and checking
them: no store may be lost on the way. The fixtures that make each step happen once
(``migrated``, ``saved``, ``restored``) are module-scoped, so each test names the stage it
checks and the order holds even when a test is run alone.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from qathw import emulated
from tests.vm.endpoint_file import create_endpoint_file
from tests.vm.fixtures import TerminalSink
from vm.backend import HostProcess, fakedev_backend
from vm.errors import MigrationError, RestoreError, SaveError, VmError
from vm.host import PROJECT_ROOT
from vm.ledger import Outcome
from vm.migratable import (
    MigratableGuest,
    MigratableSpec,
    MigrationReport,
    RestoreReport,
    SaveReport,
)
from vm.scenario import Backend, ScenarioResult, guest_scenario
from vm.workload import KINDS

pytestmark = pytest.mark.vm

DEVICE = "4xxxvf"
SERVICES = "sym;dc"  # what each backend serves, and the configuration file says
BDF = "0000:00:10.0"  # the first ivshmem slot (vm.guest.IVSHMEM_FIRST_SLOT)
CONFIG = f"""[GENERAL]
ServicesEnabled = {SERVICES}
ConfigVersion = 2
CyNumConcurrentSymRequests = 64
CyNumConcurrentAsymRequests = 64
DcNumConcurrentRequests = 64
statsGeneral = 0

[KERNEL]
NumberCyInstances = 0
NumberDcInstances = 0

[SSL]
NumProcesses = 1
LimitDevAccess = 0
NumberCyInstances = 1
NumberDcInstances = 0
Cy0Name = "SSL0"
Cy0IsPolled = 1
Cy0CoreAffinity = 0
"""
ENCRYPTIONS = 16
# One process opens the VFIO group itself: no section broker to start (and to outlive).
SAMPLE = f"QATHW_BROKER=off qathw sample cipher -n {ENCRYPTIONS} --json"
MEMCHECK_OUT, MEMCHECK_READY = "/tmp/memcheck.json", "/tmp/memcheck.ready"
MEMCHECK = (  # its pid, once it writes
    f"setsid python -m vm.memcheck --mib 32 --out {MEMCHECK_OUT} --ready {MEMCHECK_READY} "
    f"</dev/null >/dev/null 2>&1 & pid=$!; "
    f"while [ ! -e {MEMCHECK_READY} ]; do sleep 0.05; done; echo $pid"
)


@dataclass
class Host:
    """The endpoint files of the module and the one backend serving at a time."""

    folder: Path
    files: dict[str, Path] = field(default_factory=dict)
    backend: HostProcess | None = None
    served: Path | None = None

    def serve(self, name: str) -> None:
        self.served = self.files[name]
        self.backend = fakedev_backend(self.served, services=SERVICES)

    def stop(self) -> None:
        if self.backend is not None:
            self.backend.stop()
            self.backend = None


def _endpoint(path: Path) -> tuple[int, int]:
    """(backend pid, requests taken off the rings) from the control page of ``path``."""
    with open(path, "rb") as f:
        page = f.read(emulated.CONTROL_PAGE_SIZE)
    info = emulated.read_control(page, mapped_size=path.stat().st_size)
    return info.backend_pid, sum(c.requests for c in emulated.read_counters(page, info.num_banks))


def _encrypt(guest: MigratableGuest) -> dict[str, Any]:
    result = guest.run(SAMPLE, timeout=300)
    assert result.ok, f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    found: dict[str, Any] = json.loads(result.stdout)
    return found


def _say(request: pytest.FixtureRequest, text: str) -> None:
    TerminalSink(request.config)(f"migratable guest: {text}", True)


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Host]:
    folder = tmp_path_factory.mktemp("migratable")
    made = Host(folder)
    for name in ("a", "b", "c"):
        made.files[name] = folder / f"{name}.qat"
        create_endpoint_file(made.files[name], device=DEVICE)
    made.files["small"] = folder / "small.qat"
    create_endpoint_file(made.files["small"], device=DEVICE, total_size=1 << 20)
    made.serve("a")
    try:
        yield made
    finally:
        made.stop()


@pytest.fixture(scope="module")
def migratable_spec(host: Host) -> MigratableSpec:
    return MigratableSpec(shared_memory=(host.files["a"],))


@pytest.fixture(scope="module")
def vfio_ready(migratable_guest: MigratableGuest, request: pytest.FixtureRequest) -> dict[str, Any]:
    """The endpoint bound to vfio-pci in the guest, a configuration, a first encryption."""
    g = migratable_guest
    how = "cached" if g.initramfs.cached else "built"
    _say(
        request,
        f"initramfs {g.initramfs.size / 1e6:.1f} MB ({how}, build "
        f"{g.initramfs.build_seconds:.1f} s), boot to agent hello {g.boot_seconds:.1f} s",
    )
    setup = f"qathw bind {BDF} vfio-pci && cat > /etc/{DEVICE}_dev0.conf && {SAMPLE}"
    result = g.run(setup, input=CONFIG, timeout=300)
    assert result.ok, f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    found: dict[str, Any] = json.loads(result.stdout[result.stdout.index("{") :])
    return found


@dataclass
class Moved:
    report: MigrationReport
    source_pid: int
    seen_in_before: dict[str, Any]
    seen_in_after: dict[str, Any]
    memcheck: dict[str, Any]


@pytest.fixture(scope="module")
def migrated(
    migratable_guest: MigratableGuest,
    vfio_ready: dict[str, Any],
    host: Host,
    request: pytest.FixtureRequest,
) -> Moved:
    """The guest, live-migrated from file a (backend A) to file b (backend B)."""
    g = migratable_guest
    source_pid = g.qemu_pid
    assert source_pid is not None
    seen_before: dict[str, Any] = {}
    seen_after: dict[str, Any] = {}

    def before() -> None:
        seen_before["qemu_pid"] = g.qemu_pid
        seen_before["status"] = g.qmp("query-status")["status"]
        host.stop()

    def after() -> None:
        seen_after["qemu_pid"] = g.qemu_pid
        seen_after["status"] = g.qmp("query-status")["status"]
        host.serve("b")

    writer = g.run(MEMCHECK, check=True).stdout.strip()
    report = g.migrate([host.files["b"]], before=before, after=after)
    stop = f"kill {writer}; while [ ! -s {MEMCHECK_OUT} ]; do sleep 0.1; done; cat {MEMCHECK_OUT}"
    memcheck: dict[str, Any] = g.run(stop, timeout=60, check=True).json()
    _say(
        request,
        f"migrated in {report.total_ms} ms (QEMU), downtime {report.downtime_ms} ms "
        f"+ handover {report.handover_ms:.0f} ms, "
        f"{report.transferred_bytes / 1e6:.0f} MB, wall {report.wall_ms:.0f} ms",
    )
    return Moved(report, source_pid, seen_before, seen_after, memcheck)


@pytest.fixture(scope="module")
def saved(
    migrated: Moved, migratable_guest: MigratableGuest, host: Host, request: pytest.FixtureRequest
) -> SaveReport:
    """The migrated guest, saved to a file (backend B stopped before it stopped)."""
    report = migratable_guest.save(host.folder / "guest.sav", before=host.stop)
    _say(request, f"saved {report.size_bytes / 1e6:.0f} MB in {report.wall_ms:.0f} ms")
    return report


@pytest.fixture(scope="module")
def restored(
    saved: SaveReport,
    migratable_guest: MigratableGuest,
    host: Host,
    request: pytest.FixtureRequest,
) -> RestoreReport:
    """The saved guest, restored on file c, backend C started before it runs again."""
    seen: dict[str, Any] = {}

    def after() -> None:
        seen["status"] = migratable_guest.qmp("query-status")["status"]
        host.serve("c")

    report = migratable_guest.restore(saved.path, [host.files["c"]], after=after)
    assert seen == {"status": "paused"}, seen
    _say(request, f"restored in {report.wall_ms:.0f} ms (state loaded in {report.load_ms:.0f} ms)")
    return report


# --- ended by a signal while it migrates (its own guest, booted in a child process) ------

DURING_MIGRATION = """
import sys, time
from vm.migratable import MigratableGuest, MigratableSpec
guest = MigratableGuest(MigratableSpec(), workdir=sys.argv[1])
def before():
    print("migrating", flush=True)  # the destination QEMU is up by now
    time.sleep(600)
guest.migrate([], before=before)
"""


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"


def test_sigterm_during_a_migration_ends_both_qemus_and_removes_the_run_directory(
    tmp_path: Path,
) -> None:
    # First in the module: the shared guest below is not booted yet, so one QEMU pair runs.
    proc = subprocess.Popen(
        [sys.executable, "-c", DURING_MIGRATION, str(tmp_path)],
        cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 300)
        assert ready and proc.stdout.readline() == "migrating\n", proc.stderr
        pidfiles = sorted(tmp_path.glob("qathw-vm-*/q*/qemu.pid"))
        qemus = [int(p.read_text()) for p in pidfiles]
        assert len(qemus) == 2 and all(_alive(pid) for pid in qemus)
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGTERM
    assert [pid for pid in qemus if _alive(pid)] == []
    assert list(tmp_path.iterdir()) == []


# --- booted ----------------------------------------------------------------------------


def test_the_guest_runs_the_debian_kernel_from_its_initramfs(
    migratable_guest: MigratableGuest,
) -> None:
    result = migratable_guest.run("uname -r; grep -c ' 9p ' /proc/mounts", check=False)
    release, nine_p = result.stdout.split()
    assert release == migratable_guest.tools.release == migratable_guest.hello["kernel"]
    assert nine_p == "0"  # nothing mounted from the host: nothing blocks migration
    assert migratable_guest.hello["persistent"] is True


def test_the_guest_runs_this_checkout_and_its_venv_as_root(
    migratable_guest: MigratableGuest,
) -> None:
    code = "import os, sys, qathw; print(os.getuid(), sys.prefix, qathw.__file__)"
    uid, prefix, module = migratable_guest.python("-c", code, check=True).stdout.split()
    assert (uid, prefix) == ("0", sys.prefix)
    assert module == str(PROJECT_ROOT / "qathw" / "__init__.py")


def test_every_process_of_the_guest_is_known_by_pid(migratable_guest: MigratableGuest) -> None:
    assert migratable_guest.pids == [migratable_guest.qemu_pid]
    assert Path(f"/proc/{migratable_guest.qemu_pid}").exists()


def test_qathw_encrypts_through_vfio_on_the_first_backend(
    vfio_ready: dict[str, Any], host: Host
) -> None:
    assert (vfio_ready["bdf"], vfio_ready["verified"], vfio_ready["mismatches"]) == (
        BDF,
        ENCRYPTIONS,
        0,
    )
    assert host.backend is not None
    backend_pid, taken = _endpoint(host.files["a"])
    assert backend_pid == host.backend.pid and taken >= ENCRYPTIONS


# --- migrate: refused ------------------------------------------------------------------


def test_migrating_to_a_file_of_another_size_is_refused_before_anything_starts(
    migratable_guest: MigratableGuest, vfio_ready: dict[str, Any], host: Host
) -> None:
    pids = migratable_guest.pids
    called: list[str] = []
    with pytest.raises(MigrationError, match=r"1048576 bytes but its device has 4194304"):
        migratable_guest.migrate([host.files["small"]], before=lambda: called.append("before"))
    assert called == [] and migratable_guest.pids == pids
    assert migratable_guest.run("true").ok


def test_migrating_to_the_file_in_use_is_refused(
    migratable_guest: MigratableGuest, vfio_ready: dict[str, Any], host: Host
) -> None:
    with pytest.raises(MigrationError, match="the file the guest uses now"):
        migratable_guest.migrate([host.files["a"]])


# --- migrated --------------------------------------------------------------------------


def test_the_hooks_run_around_the_migration(migrated: Moved) -> None:
    # before(): still on the source, running; after(): on the destination, running.
    assert migrated.seen_in_before == {"qemu_pid": migrated.source_pid, "status": "running"}
    assert migrated.seen_in_after["status"] == "running"
    assert migrated.seen_in_after["qemu_pid"] != migrated.source_pid


def test_the_migration_report_has_qemus_figures(
    migrated: Moved, migratable_guest: MigratableGuest
) -> None:
    report = migrated.report
    assert report.info["status"] == "completed"
    assert report.total_ms == report.info["total-time"] > 0
    assert report.downtime_ms == report.info["downtime"]
    assert report.transferred_bytes == report.info["ram"]["transferred"]
    assert report.handover_ms > 0
    # The whole initramfs lives in guest RAM: at least that much crossed over.
    assert report.transferred_bytes > migratable_guest.initramfs.size // 2


def test_memory_the_guest_wrote_while_it_migrated_arrived_intact(migrated: Moved) -> None:
    # QEMU < 9.0 loses such stores unless the guest RAM's length dodges its fast dirty sync
    # (vm.machine.guest_ram_bytes).
    assert migrated.memcheck["mismatches"] == 0, migrated.memcheck
    assert migrated.memcheck["rounds"] >= 2, migrated.memcheck  # it wrote all along


def test_after_migrating_only_the_destination_qemu_runs(
    migrated: Moved, migratable_guest: MigratableGuest
) -> None:
    assert not Path(f"/proc/{migrated.source_pid}").exists()
    assert migratable_guest.pids == [migratable_guest.qemu_pid] != [migrated.source_pid]
    assert migratable_guest.qmp("query-status")["status"] == "running"


def test_the_same_agent_process_answers_after_migrating(
    migrated: Moved, migratable_guest: MigratableGuest
) -> None:
    assert migratable_guest.ping()["pid"] == migratable_guest.hello["pid"]


def test_qathw_encrypts_through_vfio_on_the_new_backend_after_migrating(
    migrated: Moved, migratable_guest: MigratableGuest, host: Host
) -> None:
    assert host.backend is not None and host.served == host.files["b"]
    _, taken_before = _endpoint(host.files["b"])
    report = _encrypt(migratable_guest)
    assert (report["verified"], report["mismatches"]) == (ENCRYPTIONS, 0)
    backend_pid, taken = _endpoint(host.files["b"])
    assert backend_pid == host.backend.pid and taken >= taken_before + ENCRYPTIONS
    driver = migratable_guest.run(f"basename $(readlink /sys/bus/pci/devices/{BDF}/driver)")
    assert driver.stdout.strip() == "vfio-pci"


# --- save: refused ---------------------------------------------------------------------


def test_saving_over_an_existing_file_is_refused_and_the_guest_runs_on(
    migrated: Moved, migratable_guest: MigratableGuest, host: Host
) -> None:
    existing = host.folder / "existing.sav"
    existing.write_bytes(b"mine")
    with pytest.raises(SaveError, match="exists: save never overwrites"):
        migratable_guest.save(existing)
    assert existing.read_bytes() == b"mine"
    assert migratable_guest.qmp("query-status")["status"] == "running"


def test_saving_into_a_missing_directory_is_refused(
    migrated: Moved, migratable_guest: MigratableGuest, host: Host
) -> None:
    with pytest.raises(SaveError, match="is not a directory"):
        migratable_guest.save(host.folder / "no-such-dir" / "guest.sav")
    assert migratable_guest.run("true").ok


# --- saved -----------------------------------------------------------------------------


def test_a_saved_guest_has_no_qemu_left_and_a_complete_file(
    saved: SaveReport, migratable_guest: MigratableGuest, host: Host
) -> None:
    assert migratable_guest.state == "saved" and migratable_guest.pids == []
    assert saved.path.stat().st_size == saved.size_bytes > 0
    assert [p.name for p in host.folder.iterdir() if ".partial" in p.name] == []
    with pytest.raises(VmError, match="restore"):
        migratable_guest.run("true")


def test_restoring_from_a_missing_file_is_refused(
    saved: SaveReport, migratable_guest: MigratableGuest, host: Host
) -> None:
    with pytest.raises(RestoreError, match="is not a file"):
        migratable_guest.restore(host.folder / "missing.sav", [host.files["c"]])
    assert migratable_guest.state == "saved"


def test_restoring_from_a_file_that_is_not_a_saved_guest_is_refused(
    saved: SaveReport, migratable_guest: MigratableGuest, host: Host
) -> None:
    bogus = host.folder / "bogus.sav"
    bogus.write_text("not a guest\n")
    with pytest.raises(RestoreError, match="not a saved guest"):
        migratable_guest.restore(bogus, [host.files["c"]])
    assert migratable_guest.state == "saved" and migratable_guest.pids == []


def test_restoring_from_a_damaged_file_fails_and_leaves_nothing_running(
    saved: SaveReport, migratable_guest: MigratableGuest, host: Host
) -> None:
    damaged = host.folder / "damaged.sav"
    with open(saved.path, "rb") as f:
        damaged.write_bytes(f.read(1 << 20))  # the stream's start, cut off
    with pytest.raises(RestoreError, match="could not load"):
        migratable_guest.restore(damaged, [host.files["c"]])
    assert migratable_guest.state == "saved" and migratable_guest.pids == []


def test_restoring_onto_files_of_another_size_is_refused(
    saved: SaveReport, migratable_guest: MigratableGuest, host: Host
) -> None:
    with pytest.raises(RestoreError, match="must be the same size"):
        migratable_guest.restore(saved.path, [host.files["small"]])
    assert migratable_guest.state == "saved" and migratable_guest.pids == []


# --- restored --------------------------------------------------------------------------


def test_the_restored_guest_is_the_same_guest_running_again(
    restored: RestoreReport, migratable_guest: MigratableGuest
) -> None:
    assert migratable_guest.state == "running"
    assert migratable_guest.qmp("query-status")["status"] == "running"
    assert migratable_guest.ping()["pid"] == migratable_guest.hello["pid"]
    assert migratable_guest.pids == [migratable_guest.qemu_pid]


def test_qathw_encrypts_through_vfio_on_the_third_backend_after_restoring(
    restored: RestoreReport, migratable_guest: MigratableGuest, host: Host
) -> None:
    assert host.backend is not None and host.served == host.files["c"]
    _, taken_before = _endpoint(host.files["c"])
    report = _encrypt(migratable_guest)
    assert (report["verified"], report["mismatches"]) == (ENCRYPTIONS, 0)
    backend_pid, taken = _endpoint(host.files["c"])
    assert backend_pid == host.backend.pid and taken >= taken_before + ENCRYPTIONS


# --- the split driver's scenario (vm/scenario.py), on the same guest -------------------


@pytest.fixture(scope="module")
def scenario(
    restored: RestoreReport,
    migratable_guest: MigratableGuest,
    host: Host,
    request: pytest.FixtureRequest,
) -> ScenarioResult:
    """After the stages above: the verified mixed workload (vm/workload.py, with an in-place
    request on its own device buffer) through a backend crash, a live migration to a new
    file and backend, and a save + restore into yet another QEMU, file and backend."""
    assert host.backend is not None and host.served is not None
    backend = Backend(host.served, process=host.backend)
    host.backend = None  # the scenario replaces it; it stops the last one itself
    try:
        # 4 MiB endpoints: a quarter of their device memory per bank, so 0.5 MiB in place.
        result = guest_scenario(
            migratable_guest,
            backend,
            host.folder,
            inplace_mib=0.5,
            say=lambda text: _say(request, text),
        )
    finally:
        backend.stop()
    _say(request, "\n" + result.table())
    return result


def test_the_scenario_loses_duplicates_and_corrupts_no_request(scenario: ScenarioResult) -> None:
    assert scenario.verdict.passed, scenario.table()


def test_the_scenario_ran_a_crash_a_migration_and_a_save_and_restore_in_order(
    scenario: ScenarioResult,
) -> None:
    rows = scenario.rows
    assert [r.event for r in rows] == [
        "backend crash",
        "live migration",
        "save + restore",
        "whole run",
    ]
    crash, migration, saved = rows[:3]
    assert crash.migration_ms is None and crash.replayed + crash.failed_in_place >= 1
    assert migration.migration_ms and migration.downtime_ms is not None
    assert saved.migration_ms and saved.downtime_ms
    assert all(r.done_after > r.done_before for r in rows[:3])


def test_every_kind_of_request_completed_right_in_the_guest(scenario: ScenarioResult) -> None:
    by_kind = scenario.final.by_kind
    assert sorted(by_kind) == sorted(KINDS)
    assert all(counts.get(Outcome.OK.value, 0) > 0 for counts in by_kind.values())
