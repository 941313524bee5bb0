"""``python -m demo`` (``make demo``): the seed's multi-process scenario, in a few seconds.

Two gen4 endpoints, each configured with ``[SSL]`` (4 processes, one device each, one Cy
instance) and ``[IPSec]`` (1 process across devices, four Cy instances per device):

1. write the two files and check them (``qathw config check``);
2. show the expansion: nine internal sections, their instances, banks and rings;
3. start the two endpoints: emulated 4xxx PFs, each served by its own device process
   (fakedev), presented in a fake sysfs tree;
4. start eight ``user_start("SSL")`` processes and one ``user_start("IPSec")``; each
   opens its instances (ring pairs on the banks of its section);
5. show who holds what (``qathw sections``);
6. a ninth SSL process is refused: all eight are taken;
7. ``kill -9`` one holder: the next ``user_start("SSL")`` gets its section at once;
8. traffic: every process runs requests on its instances (SSL: AES-128-CBC, as gen4
   offers no DES; IPSec: AES-256-GCM), checks each result against ``cryptography``, and reports
   its operations and throughput.

``python -m demo --vfio`` runs it in a QEMU guest whose two endpoints are bound to
``vfio-pci``, the holders reaching them through the section broker
(:mod:`demo.vfio_host` on the host, :mod:`demo.vfio_seed` in the guest).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from demo import endpoints
from demo.seed import write_seed_configs
from demo.traffic import Report, make_workload
from demo.workers import Started, Worker, spawn
from qathw.config import check_files
from qathw.config.diagnostics import Severity, count
from qathw.discovery import discover
from qathw.paths import ENV_CONFIG_DIR, ENV_RUNTIME_DIR, ENV_SYSFS_ROOT, HostRoot
from qathw.sections import list_sections

WIDTH = 80
TRAFFIC_SECONDS = 1.0


def say(text: str = "", indent: int = 0) -> None:
    pad = " " * indent
    for para in text.split("\n"):
        lines = textwrap.wrap(para, WIDTH - indent, subsequent_indent="  ") or [""]
        for line in lines:
            print(pad + line)


def step(n: int, title: str) -> None:
    print()
    print(f"{n}. {title}")
    print("-" * min(WIDTH, len(title) + 3))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo", description="the seed's scenario")
    parser.add_argument(
        "--vfio",
        action="store_true",
        help="run it in a QEMU guest, through vfio-pci and the section broker",
    )
    if parser.parse_args(argv).vfio:
        from demo import vfio_host  # only now: it needs the vm harness

        return vfio_host.main()
    t0 = time.monotonic()
    shm = "/dev/shm" if os.path.isdir("/dev/shm") else None  # tmpfs: where ivshmem files live
    with tempfile.TemporaryDirectory(prefix="qathw-demo-", dir=shm) as tmp:
        config_dir = Path(tmp) / "etc"
        runtime = Path(tmp) / "run"
        os.environ[ENV_CONFIG_DIR] = str(config_dir)
        os.environ[ENV_RUNTIME_DIR] = str(runtime)
        workers: list[Worker] = []
        with contextlib.ExitStack() as devices:  # the device processes end after the workers
            try:
                return run(Path(tmp), config_dir, runtime, workers, devices, t0)
            finally:
                for w in workers:
                    w.stop()


def run(
    tmp: Path,
    config_dir: Path,
    runtime: Path,
    workers: list[Worker],
    devices: contextlib.ExitStack,
    t0: float,
) -> int:
    say("qathw demo: configuring multiple processes on a system with two QAT endpoints")

    step(1, "Configuration files (the seed's, on two gen4 endpoints)")
    files = write_seed_configs(config_dir)
    say(f"wrote {files[0].name} and {files[1].name} in {config_dir}", 2)
    say("[SSL]   NumProcesses=4  LimitDevAccess=1  NumCyInstances=1", 2)
    say("[IPSec] NumProcesses=1  LimitDevAccess=0  NumCyInstances=4", 2)
    report = check_files(files)
    n = count(report.all_diagnostics)
    say(
        f"qathw config check: {'valid' if report.ok else 'INVALID'}, "
        f"{n[Severity.ERROR]} errors, {n[Severity.WARNING]} warnings:",
        2,
    )
    rules = sorted({d.rule for d in report.all_diagnostics if d.severity is Severity.WARNING})
    for rule in rules:
        first = next(d for d in report.all_diagnostics if d.rule == rule)
        say(f"{rule} {first.message}", 4)
    for total in report.totals:
        say(total.describe(), 2)
    if not report.ok:
        return 1

    step(2, f"Expansion: {len(report.expansion.sections)} internal sections")
    say("each Cy instance as device:asym bank/sym bank (a gen4 bank is one ring pair:", 2)
    say("ring 0 takes requests, ring 1 returns responses)", 2)
    for sec in report.expansion.sections:
        insts = " ".join(
            f"{i.device.accel_id}:" + "/".join(str(r.bank) for r in i.rings) for i in sec.instances
        )
        say(f"{sec.name:<15} {insts}", 2)
    for dev in report.expansion.devices:
        say(f"{dev.device.name} ({dev.device.file_name}): {dev.summary()}", 2)

    step(3, "Two emulated endpoints, each served by a device process (fakedev)")
    started = time.monotonic()
    host = devices.enter_context(endpoints.running(tmp / "endpoints"))
    os.environ[ENV_SYSFS_ROOT] = str(host.sysfs_root)
    for e in host.endpoints:
        say(f"{e.path.name}: 4xxx PF, 64 banks, {endpoints.SIZE >> 20} MiB; pid {e.pid}", 2)
    found = discover(HostRoot.from_sysfs_root(host.sysfs_root)).accel_devices
    for fn in found:
        say(f"qat_dev{fn.accel_id} = {fn.bdf} ({fn.label}, {fn.state})", 2)
    ms = (time.monotonic() - started) * 1000
    say(f"presented as ivshmem functions in a fake sysfs tree ({ms:.0f} ms)", 2)

    traffic = make_workload(TRAFFIC_SECONDS)
    step(4, "Nine processes: 8 x user_start('SSL'), 1 x user_start('IPSec')")
    start = time.monotonic()
    workers.extend(spawn("SSL", traffic) for _ in range(8))
    workers.append(spawn("IPSec", traffic))
    for w in workers:
        w.wait_started()
    ms = (time.monotonic() - start) * 1000
    slowest = max(w.wait_started().seconds for w in workers) * 1000
    say(f"{'PID':>7}  {'ASKED':<6} {'GOT':<15} INSTANCES", 2)
    for w in sorted(workers, key=lambda w: w.wait_started().section or ""):
        got = w.wait_started()
        if got.error:
            say(f"{got.pid:>7}  {got.asked:<6} error: {got.error}", 2)
            continue
        say(f"{got.pid:>7}  {got.asked:<6} {got.section or '':<15} {describe(got)}", 2)
    say(f"nine processes up in {ms:.0f} ms; the slowest user_start took {slowest:.0f} ms", 2)
    opened = [ready(w) for w in workers]
    failed = [r for r in opened if r is not None]
    for r in failed:
        say(f"pid {r.pid}: opening instances failed: {r.error}", 2)
    if not failed:
        say("each opened its instances: ring pairs programmed on its own banks", 2)

    step(5, "Who holds what (qathw sections)")
    show_holders(config_dir, runtime, workers)

    step(6, "A ninth SSL process")
    ninth = spawn("SSL")
    refused = ninth.wait_started()
    ninth.stop()
    say(f"pid {refused.pid}: user_start('SSL') -> qathw: {refused.error}", 2)

    step(7, "kill -9 one holder; the next SSL process gets its section")
    victim = next(w for w in workers if w.wait_started().section == "SSL_DEV0_INT_1")
    os.kill(victim.pid, signal.SIGKILL)
    victim.process.join()
    killed = time.monotonic()
    say(f"killed pid {victim.pid} (held SSL_DEV0_INT_1) with SIGKILL", 2)
    workers.remove(victim)
    replacement = spawn("SSL", traffic)
    workers.append(replacement)
    got = replacement.wait_started()
    ms = (time.monotonic() - killed) * 1000
    say(
        f"pid {got.pid}: user_start('SSL') -> {got.section or got.error} "
        f"({ms:.0f} ms after the kill, fork included; user_start itself "
        f"{got.seconds * 1000:.0f} ms; no cleanup step)",
        2,
    )
    show_holders(config_dir, runtime, workers)
    replaced = ready(replacement)

    step(8, "Traffic: every process runs requests on its instances")
    say(
        "SSL: AES-128-CBC (gen4 has no DES), IPSec: AES-256-GCM on its 8 instances; "
        f"64-byte messages in batches, {TRAFFIC_SECONDS:.0f} s, every result checked "
        "against cryptography",
        2,
    )
    reports = run_traffic(workers)
    ok = show_traffic(reports) and replaced is None and not failed

    print()
    say(f"done in {time.monotonic() - t0:.1f} s")
    return 0 if got.section == "SSL_DEV0_INT_1" and ok else 1


def ready(worker: Worker) -> Report | None:
    """Wait for a worker to open its instances: ``None``, or its error report."""
    if not worker.conn.poll(30):
        raise TimeoutError(f"worker {worker.pid} did not open its instances")
    msg: Report | str = worker.conn.recv()
    return None if isinstance(msg, str) else msg


def run_traffic(workers: list[Worker]) -> list[Report]:
    """Tell every worker to go, at once; collect their reports."""
    for w in workers:
        w.conn.send("go")
    reports = []
    for w in workers:
        if not w.conn.poll(60):
            raise TimeoutError(f"worker {w.pid} did not report its traffic")
        reports.append(w.conn.recv())
    return reports


def show_traffic(reports: list[Report]) -> bool:
    """Print one line per process and a total; true when everything was verified."""
    say(
        f"{'PID':>7}  {'SECTION':<15} {'ALGORITHM':<12} {'INST':>4} {'OPS':>7} {'OPS/S':>8}  CHECK",
        2,
    )
    ok = True
    for r in sorted(reports, key=lambda r: r.section):
        if r.error:
            say(f"{r.pid:>7}  {r.section:<15} error: {r.error}", 2)
            ok = False
            continue
        check = "all ok" if not r.mismatches else f"{r.mismatches} BAD"
        ok &= not r.mismatches and r.ops > 0
        say(
            f"{r.pid:>7}  {r.section:<15} {r.algorithm:<12} {r.instances:>4} {r.ops:>7} "
            f"{r.rate:>8,.0f}  {check}",
            2,
        )
    total = sum(r.ops for r in reports)
    rate = sum(r.rate for r in reports)
    say(
        f"total: {total:,} requests verified, {rate:,.0f} requests/s from nine processes "
        f"sharing two device processes on {os.cpu_count()} CPUs",
        2,
    )
    return ok


def describe(got: Started) -> str:
    """``dev0: SSL0`` or ``8 (4 on dev0, 4 on dev1)``."""
    if len(got.instances) == 1:
        dev, name, _ = got.instances[0]
        return f"dev{dev}: {name}"
    per: dict[int, int] = {}
    for dev, _, _ in got.instances:
        per[dev] = per.get(dev, 0) + 1
    spread = ", ".join(f"{n} on dev{d}" for d, n in per.items())
    return f"{len(got.instances)} ({spread})"


def show_holders(config_dir: Path, runtime: Path, workers: list[Worker]) -> None:
    _, statuses = list_sections(config_dir, runtime)
    asked = {w.pid: w.wait_started().asked for w in workers}
    say(f"{'SECTION':<15} {'DEVICES':<8} {'INSTANCES':<10} HOLDER", 2)
    for st in statuses:
        sec = st.section
        devs = ",".join(str(d.accel_id) for d in sec.devices)
        holder = "free"
        if st.holder is not None and st.holder.pid is not None:
            holder = f"pid {st.holder.pid} (worker asked for {asked.get(st.holder.pid, '?')})"
        say(f"{sec.name:<15} {devs:<8} {len(sec.instances):<10} {holder}", 2)


if __name__ == "__main__":
    sys.exit(main())
