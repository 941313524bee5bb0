"""The QAT driver's debugfs telemetry (gen4, Linux 6.8+; docs/hardware.md#debugfs).

``telemetry/control`` takes 0 (off) to 4 (samples to average); ``rp_<X>_data`` selects a
ring pair for slot X; ``device_data`` and the slots read ``EPERM`` while telemetry is off
(or the slot has no ring pair). The counters are deterministic, distinct per counter, and
grow with each read.
"""

from __future__ import annotations

import errno
from pathlib import Path

from fakedev.sysfs import services
from fakedev.sysfs.tree import State, Tree, kernel_error

SLOTS = "ABCD"
_MAX_SAMPLES = 4

# Gen4 telemetry device counters in print order, one slice of each type.
_TL_DEVICE = (
    "pci_trans_cnt",
    "max_rd_lat",
    "rd_lat_acc_avg",
    "max_gp_lat",
    "gp_lat_acc_avg",
    "bw_in",
    "bw_out",
    "at_page_req_lat_avg",
    "at_trans_lat_avg",
    "at_max_tlb_used",
    "util_cpr0",
    "exec_cpr0",
    "util_xlt0",
    "exec_xlt0",
    "util_dcpr0",
    "exec_dcpr0",
    "util_pke0",
    "exec_pke0",
    "util_wat0",
    "exec_wat0",
    "util_wcp0",
    "exec_wcp0",
    "util_ucs0",
    "exec_ucs0",
    "util_cph0",
    "exec_cph0",
    "util_ath0",
    "exec_ath0",
)
_TL_RP = (
    "pci_trans_cnt",
    "gp_lat_acc_avg",
    "bw_in",
    "bw_out",
    "at_glob_devtlb_hit",
    "at_glob_devtlb_miss",
    "tl_at_payld_devtlb_hit",
    "tl_at_payld_devtlb_miss",
)


def is_data_file(inner: str) -> bool:
    """Whether a path inside a PF's debugfs directory is a telemetry data file."""
    return inner == "telemetry/device_data" or is_rp_file(inner)


def is_rp_file(inner: str) -> bool:
    """Whether a path inside a PF's debugfs directory is a ring pair slot."""
    return inner.startswith("telemetry/rp_") and inner.endswith("_data")


def _slot(inner: str) -> str:
    return inner.split("_")[1]


def _fresh() -> State:
    return {"samples": 0, "reads": 0, "rp": {}}


class Telemetry:
    """The telemetry files of the PFs of a tree, and their rules.

    Args:
        tree: the fake host's files and state.
    """

    def __init__(self, tree: Tree) -> None:
        self.tree = tree

    def create(self, state: State, dbg: Path, bdf: str) -> None:
        """Create a started PF's telemetry files, telemetry off."""
        t = self.tree
        tl = dbg / "telemetry"
        t.put(tl / "control", "0\n", 0o644)
        t.put(tl / "device_data", "", 0o444)
        for slot in SLOTS:
            t.put(tl / f"rp_{slot}_data", "", 0o644)
        state["telemetry"][bdf] = _fresh()

    def store_control(self, bdf: str, real: Path, text: str, shown: Path) -> None:
        """``control``: 0-4, else ``EINVAL``; a new value restarts the sample count."""
        try:
            n = int(text.strip(), 10)
        except ValueError:
            raise kernel_error(errno.EINVAL, shown) from None
        if not 0 <= n <= _MAX_SAMPLES:
            raise kernel_error(errno.EINVAL, shown)
        with self.tree.state() as state:
            tl = state["telemetry"].setdefault(bdf, _fresh())
            tl["samples"] = n
            tl["reads"] = 0
        self.tree.put(real, f"{n}\n", 0o644)

    def store_rp(self, bdf: str, inner: str, text: str, shown: Path) -> None:
        """``rp_<X>_data``: select a ring pair of the PF; one already watched is a no-op."""
        try:
            rp = int(text.strip(), 10)
        except ValueError:
            raise kernel_error(errno.EINVAL, shown) from None
        kind = self.tree.pf(self.tree.dev_dir(bdf))
        if not 0 <= rp < (kind.family.pf_banks or 0):
            raise kernel_error(errno.EINVAL, shown)
        with self.tree.state() as state:
            tl = state["telemetry"].setdefault(bdf, _fresh())
            if rp in tl["rp"].values():
                return  # already watched by another slot: success, no change
            tl["rp"][_slot(inner)] = rp

    def show(self, bdf: str, inner: str, real: Path) -> bytes:
        """A data file's content: ``EPERM`` while off, or for a slot with no ring pair."""
        # Still subject to the tree's own permissions (debugfs is root-only).
        with open(real, "rb"):
            pass
        with self.tree.state() as state:
            tl = state["telemetry"].get(bdf)
            if not tl or not tl["samples"]:
                raise kernel_error(errno.EPERM, real)
            rp = None
            if inner != "telemetry/device_data":
                rp = tl["rp"].get(_slot(inner))
                if rp is None:
                    raise kernel_error(errno.EPERM, real)
            tl["reads"] += 1
            reads = tl["reads"]
            samples = tl["samples"]
        d = self.tree.dev_dir(bdf)
        lines = []
        counters = _TL_DEVICE if rp is None else _TL_RP

        def row(name: str, value: int) -> str:
            line = f"{name:<23}{value:>20}"
            if samples >= 2:
                line += f"{value // 2:>20}{value * 2:>20}{value:>20}"
            return line

        lines.append(row("sample_cnt", reads))
        if rp is not None:
            lines.append(f"{'rp_num':<23}{rp:>20}")
            generation = self.tree.pf(d).generation
            served = services.ring_services(services.configured(d) or "", generation)
            lines.append(f"{'service_type':<23}{served[rp % len(served)]:>20}")
        for i, name in enumerate(counters):
            # Deterministic, distinct, growing with each sample.
            lines.append(row(name, (i + 1) * 100 + reads))
        return ("\n".join(lines) + "\n").encode()
