"""Carry out a :class:`~qathw.setup.plan.Plan`, step by step, through :mod:`qathw.admin`.

At the first step that fails it stops: the error says which step, what was done before
it and what was not. Running the same file again resumes, since the plan is made afresh
from the host and what is done has no step any more.
"""

from __future__ import annotations

from collections.abc import Callable

from qathw import admin
from qathw.admin import Change
from qathw.discovery import discover
from qathw.errors import QatError
from qathw.paths import HostRoot
from qathw.pci_regs import PciAddress
from qathw.setup.plan import UNBOUND, PfPlan, Plan, Step
from qathw.sysfsio import SysfsIO

#: Called after each step with the PF's plan, the step and what changed.
Progress = Callable[[PfPlan, Step, list[Change]], None]


def _vfs(host: HostRoot, pf: PciAddress, io: SysfsIO | None) -> list[tuple[PciAddress, str | None]]:
    inv = discover(host, io=io)
    fn = inv.get(pf)
    return [(v.address, v.pci.driver) for v in inv.vfs_of(fn)]


def run_step(host: HostRoot, pf: PciAddress, step: Step, io: SysfsIO | None) -> list[Change]:
    """Do one step.

    Returns:
        What changed (several changes for a ``bind`` of every VF).

    Raises:
        QatError: what :mod:`qathw.admin` raises.
    """
    if step.action in ("down", "up"):
        return [admin.set_state(host, pf, step.action, io=io)]
    if step.action == "services":
        return [admin.set_services(host, pf, step.value or "", io=io)]
    if step.action == "vfs":
        return [admin.set_vfs(host, pf, step.value != "0", io=io)]
    changes = []
    if step.action == "bind":
        driver = None if step.value == UNBOUND else step.value
        for vf, now in _vfs(host, pf, io):
            if now != driver:
                changes.append(admin.bind(host, vf, driver, io=io))
        return changes
    if step.action == "rebind":
        for (vf, now), want in zip(_vfs(host, pf, io), step.drivers, strict=False):
            if want is not None and now != want:
                changes.append(admin.bind(host, vf, want, io=io))
        return changes
    raise ValueError(f"unknown step {step.action!r}")


def apply(
    host: HostRoot,
    plan: Plan,
    *,
    io: SysfsIO | None = None,
    progress: Progress | None = None,
) -> list[Change]:
    """Carry out every step of ``plan`` in order.

    Args:
        host: the host root.
        plan: from :func:`qathw.setup.plan.make_plan` on this host.
        io: the sysfs seam.
        progress: called after each step.

    Returns:
        Every change, in order.

    Raises:
        QatError: the first step that failed, its message saying where the set-up stopped,
            how many steps were done and which were not.
    """
    changes: list[Change] = []
    todo = [(p, s) for p in plan.pfs for s in p.steps]
    for n, (pf, step) in enumerate(todo):
        try:
            done = run_step(host, pf.address, step, io)
        except QatError as exc:
            left = [f"{p.address}: {s.text}" for p, s in todo[n + 1 :]]
            rest = f"; not done: {'; '.join(left[:4])}" + (" ..." if len(left) > 4 else "")
            exc.what = (
                f"setup stopped at {pf.address}: {step.text} ({n} of {len(todo)} steps done"
                f"{rest if left else ''}): {exc.what}"
            )
            exc.hint = (exc.hint + "; " if exc.hint else "") + (
                "then run 'qathw setup' with the same file again: it does only what is still to do"
            )
            raise
        changes += done
        if progress is not None:
            progress(pf, step, done)
    return changes
