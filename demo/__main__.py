"""``python -m demo`` (``make demo``): the seed's multi-process scenario, in a few seconds.

Two gen4 endpoints, each configured with ``[SSL]`` (4 processes, one device each, one Cy
instance) and ``[IPSec]`` (1 process across devices, four Cy instances per device):

1. write the two files and check them (``qathw config check``);
2. show the expansion: nine internal sections, their instances, banks and rings;
3. start eight ``user_start("SSL")`` processes and one ``user_start("IPSec")``;
4. show who holds what (``qathw sections``);
5. a ninth SSL process is refused: all eight are taken;
6. ``kill -9`` one holder: the next ``user_start("SSL")`` gets its section at once.
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from demo.seed import write_seed_configs
from demo.workers import Started, Worker, spawn
from qathw.config import check_files
from qathw.config.diagnostics import Severity, count
from qathw.paths import ENV_CONFIG_DIR, ENV_RUNTIME_DIR
from qathw.sections import list_sections

WIDTH = 80


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


def main() -> int:
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="qathw-demo-") as tmp:
        config_dir = Path(tmp) / "etc"
        runtime = Path(tmp) / "run"
        os.environ[ENV_CONFIG_DIR] = str(config_dir)
        os.environ[ENV_RUNTIME_DIR] = str(runtime)
        workers: list[Worker] = []
        try:
            return run(config_dir, runtime, workers, t0)
        finally:
            for w in workers:
                w.stop()


def run(config_dir: Path, runtime: Path, workers: list[Worker], t0: float) -> int:
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

    step(3, "Nine processes: 8 x user_start('SSL'), 1 x user_start('IPSec')")
    start = time.monotonic()
    workers.extend(spawn("SSL") for _ in range(8))
    workers.append(spawn("IPSec"))
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

    step(4, "Who holds what (qathw sections)")
    show_holders(config_dir, runtime, workers)

    step(5, "A ninth SSL process")
    ninth = spawn("SSL")
    refused = ninth.wait_started()
    ninth.stop()
    say(f"pid {refused.pid}: user_start('SSL') -> qathw: {refused.error}", 2)

    step(6, "kill -9 one holder; the next SSL process gets its section")
    victim = next(w for w in workers if w.wait_started().section == "SSL_DEV0_INT_1")
    os.kill(victim.pid, signal.SIGKILL)
    victim.process.join()
    killed = time.monotonic()
    say(f"killed pid {victim.pid} (held SSL_DEV0_INT_1) with SIGKILL", 2)
    workers.remove(victim)
    replacement = spawn("SSL")
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

    print()
    say(f"done in {time.monotonic() - t0:.1f} s")
    return 0 if got.section == "SSL_DEV0_INT_1" else 1


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
