"""``qathw show DEVICE``: everything known about one function, ``lspci -vv`` style.

DEVICE is a BDF or a ``qat_devN`` name.
"""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path
from typing import Any

from qathw import debugfs, discovery
from qathw.cli import Command, add_json_flag, emit_json
from qathw.cli.commands._host import (
    DEVICE_HELP,
    add_host_args,
    find,
    function_doc,
    host_from,
    pci_id,
)
from qathw.debugfs import DebugfsInfo
from qathw.discovery import Inventory, QatFunction, Role
from qathw.paths import HostRoot
from qathw.pci import ACCESS_DENIED, PciFunction, capabilities, command_register
from qathw.pci_regs import PCI_COMMAND_IO, PCI_COMMAND_MASTER, PCI_COMMAND_MEMORY

INDENT = "    "
DENIED = f"<{ACCESS_DENIED}>"


def size_text(n: int) -> str:
    """``lspci``'s size notation: 256, 16K, 2M, 1G."""
    for unit, shift in (("G", 30), ("M", 20), ("K", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift}{unit}"
    return str(n)


def _v(fn: PciFunction, field: str, value: object, fmt: str = "{}") -> str:
    if value is None:
        return f"<{fn.unreadable[field]}>" if field in fn.unreadable else "-"
    return fmt.format(value)


def _debugfs_for(fn: QatFunction, host: HostRoot) -> DebugfsInfo | None:
    if fn.role is not Role.PF:
        return None
    return debugfs.read(host, fn.class_name, fn.bdf)


def text_lines(fn: QatFunction, inv: Inventory, dbg: DebugfsInfo | None) -> list[str]:
    """The ``show`` report, at most 80 columns per line for ordinary values."""
    host = inv.host
    p = fn.pci
    cls = _v(p, "class", p.class_code, "{:06x}")
    rev = _v(p, "revision", p.revision, "{:02x}")
    lines = [
        f"{fn.bdf} [{cls[:4]}]: Intel QAT {fn.label} [{p.vendor:04x}:{p.device:04x}] (rev {rev})"
    ]
    if fn.role is Role.EMULATED:
        lines[0] = f"{fn.bdf} [{cls[:4]}]: QEMU ivshmem [{p.vendor:04x}:{p.device:04x}] (rev {rev})"
    sub = f"{_v(p, 'subsystem_vendor', p.subsystem_vendor, '{:04x}')}:" + _v(
        p, "subsystem_device", p.subsystem_device, "{:04x}"
    )
    add = lines.append
    add(f"{INDENT}Subsystem: [{sub}]")
    ident = f"{fn.generation.traits.label}, class {fn.class_name}, {fn.role.value.upper()}"
    if fn.accel_id is not None:
        ident += f", qat_dev{fn.accel_id} ({fn.class_name}_dev{fn.inst_id}.conf)"
    if fn.kind.banks:
        ident += f", {fn.kind.banks} banks"
    add(f"{INDENT}QAT: {ident}")
    add(f"{INDENT}Kernel driver in use: {_v(p, 'driver', p.driver)}")
    add(f"{INDENT}Driver override: {_v(p, 'driver_override', p.driver_override)}")
    numa = _v(p, "numa_node", p.numa_node)
    add(f"{INDENT}NUMA node: {numa}, local CPUs: {_v(p, 'local_cpulist', p.local_cpulist)}")
    node = p.vfio_node(host)
    group = _v(p, "iommu_group", p.iommu_group)
    add(f"{INDENT}IOMMU group: {group}" + (f" ({host_path(host, node)})" if node else ""))
    add(f"{INDENT}Enabled: {_v(p, 'enable', p.enable)}")
    if p.config is not None:
        cmd = command_register(p.config)
        if cmd is not None:
            flags = " ".join(
                f"{name}{'+' if cmd & bit else '-'}"
                for name, bit in (
                    ("I/O", PCI_COMMAND_IO),
                    ("Mem", PCI_COMMAND_MEMORY),
                    ("BusMaster", PCI_COMMAND_MASTER),
                )
            )
            add(f"{INDENT}Control: {flags}")
    for bar in p.resources:
        kind = "I/O ports" if bar.is_io else "Memory"
        attrs = []
        if not bar.is_io:
            attrs.append("64-bit" if bar.is_64bit else "32-bit")
            attrs.append("prefetchable" if bar.is_prefetchable else "non-prefetchable")
        extra = f" ({', '.join(attrs)})" if attrs else ""
        add(f"{INDENT}{bar.name}: {kind} at {bar.start:x}{extra} [size={size_text(bar.size)}]")
    if "resource" in p.unreadable:
        add(f"{INDENT}Regions: <{p.unreadable['resource']}>")
    if p.config is None:
        add(f"{INDENT}Capabilities: <{p.unreadable.get('config', 'not present')}>")
    elif len(p.config) <= 64:
        add(f"{INDENT}Capabilities: {DENIED} (config space beyond 64 bytes needs root)")
    else:
        caps = capabilities(p.config)
        add(f"{INDENT}Capabilities: " + (", ".join(c.name for c in caps) or "none"))
    if p.sriov is not None:
        s = p.sriov
        add(
            f"{INDENT}SR-IOV: {_v(p, 'sriov_numvfs', s.num_vfs)} of "
            f"{_v(p, 'sriov_totalvfs', s.total_vfs)} VFs enabled (VF device "
            f"{_v(p, 'sriov_vf_device', s.vf_device, '{:04x}')}, offset "
            f"{_v(p, 'sriov_offset', s.offset)}, stride {_v(p, 'sriov_stride', s.stride)})"
        )
        vfs = [str(v) for v in s.vfs]
        for i in range(0, len(vfs), 5):
            prefix = "VFs: " if i == 0 else "     "
            add(f"{INDENT * 2}{prefix}{' '.join(vfs[i : i + 5])}")
        if vfs:
            drivers: dict[str, int] = {}
            for v in inv.vfs_of(fn):
                key = v.pci.driver or "none"
                drivers[key] = drivers.get(key, 0) + 1
            if drivers:
                summary = ", ".join(f"{n} on {d}" for d, n in sorted(drivers.items()))
                add(f"{INDENT * 2}VF drivers: {summary}")
    if p.physfn is not None:
        pf = inv.pf_of(fn)
        tail = f" (state {pf.state or '-'}, services {pf.services or '-'})" if pf else ""
        add(f"{INDENT}Physical function: {p.physfn}{tail}")
    if p.qat is not None:
        q = p.qat
        parts = [
            f"state {_v(p, 'qat/state', q.state)}",
            f"cfg_services {_v(p, 'qat/cfg_services', q.cfg_services)}",
        ]
        if q.pm_idle_enabled is not None or "qat/pm_idle_enabled" in p.unreadable:
            parts.append(f"pm_idle_enabled {_v(p, 'qat/pm_idle_enabled', q.pm_idle_enabled)}")
        if q.num_rps is not None or "qat/num_rps" in p.unreadable:
            parts.append(f"num_rps {_v(p, 'qat/num_rps', q.num_rps)}")
        if q.auto_reset is not None or "qat/auto_reset" in p.unreadable:
            parts.append(f"auto_reset {_v(p, 'qat/auto_reset', q.auto_reset)}")
        add(f"{INDENT}qat/: {', '.join(parts[:3])}")
        if parts[3:]:
            add(f"{INDENT}      {', '.join(parts[3:])}")
    elif fn.services is not None:
        add(f"{INDENT}Services: {fn.services}")
    if fn.control is not None:
        c = fn.control
        w = c.windows
        add(
            f"{INDENT}Emulated endpoint: backend {c.backend_state.name.lower()} (epoch "
            f"{c.backend_epoch}, pid {c.backend_pid or '-'}), frontend "
            f"{c.frontend_state.name.lower()}"
        )
        add(
            f"{INDENT * 2}{c.num_banks} banks x {c.rings_per_bank} rings; CSR at "
            f"{w.csr_offset:#x}, PMISC at {w.pmisc_offset:#x}, device memory "
            f"{size_text(w.devmem_size)} at IOVA {w.devmem_iova:#x}"
        )
    if dbg is not None:
        lines += _debugfs_lines(dbg, host)
    return fit(lines)


def host_path(host: HostRoot, path: Path) -> str:
    """``path`` as the host sees it (``/dev/vfio/12``), also under a fake root."""
    try:
        return "/" + str(path.relative_to(host.prefix))
    except ValueError:
        return str(path)


def fit(lines: list[str], width: int = 80) -> list[str]:
    """Wrap long lines at spaces, continuing four columns deeper."""
    out = []
    for line in lines:
        if len(line) <= width:
            out.append(line)
            continue
        indent = " " * (len(line) - len(line.lstrip()) + 4)
        out += textwrap.wrap(
            line, width, subsequent_indent=indent, break_long_words=False, break_on_hyphens=False
        )
    return out


def _debugfs_lines(dbg: DebugfsInfo, host: HostRoot) -> list[str]:
    lines = [f"{INDENT}debugfs: {host_path(host, dbg.path)}"]
    pad = INDENT * 2
    if dbg.present is None:
        lines.append(
            f"{pad}<{dbg.unreadable.get('debugfs', ACCESS_DENIED)}> (debugfs is root-only)"
        )
        return lines
    if not dbg.present:
        lines.append(f"{pad}not present (driver not bound, or debugfs not mounted)")
        return lines
    hb = dbg.heartbeat
    if hb is not None:
        alive = {True: "alive", False: "NOT RESPONDING", None: "?"}[hb.alive]
        lines.append(
            f"{pad}heartbeat: {alive} (status {hb.status}, queries sent {hb.queries_sent}, "
            f"failed {hb.queries_failed})"
        )
    elif "heartbeat" in dbg.unreadable:
        lines.append(f"{pad}heartbeat: <{dbg.unreadable['heartbeat']}>")
    if dbg.fw_counters is not None:
        req = sum(c.requests for c in dbg.fw_counters)
        rsp = sum(c.responses for c in dbg.fw_counters)
        lines.append(
            f"{pad}fw_counters: {len(dbg.fw_counters)} engines, {req} requests, {rsp} responses"
        )
    if dbg.telemetry_control is not None:
        tl = dbg.telemetry_control
        lines.append(f"{pad}telemetry: " + (f"on, history {tl}" if tl else "off"))
    if dbg.dev_cfg is not None:
        for section, keys in dbg.dev_cfg.items():
            items = ", ".join(f"{k} = {v}" for k, v in keys.items())
            lines.append(f"{pad}dev_cfg [{section}]" + (f" {items}" if items else ""))
    elif "dev_cfg" in dbg.unreadable:
        lines.append(f"{pad}dev_cfg: <{dbg.unreadable['dev_cfg']}>")
    return lines


def show_doc(fn: QatFunction, inv: Inventory, dbg: DebugfsInfo | None) -> dict[str, Any]:
    """The JSON document of ``show``."""
    p = fn.pci
    doc = function_doc(fn, inv.host)
    doc["pci"] = {
        "subsystem_vendor": pci_id(p.subsystem_vendor),
        "subsystem_device": pci_id(p.subsystem_device),
        "class": None if p.class_code is None else f"0x{p.class_code:06x}",
        "revision": p.revision,
        "enable": p.enable,
        "local_cpulist": p.local_cpulist,
        "config_bytes_readable": len(p.config) if p.config is not None else None,
        "command": command_register(p.config) if p.config else None,
        "capabilities": [
            {"offset": c.offset, "id": c.cap_id, "extended": c.extended, "name": c.name}
            for c in (capabilities(p.config) if p.config else ())
        ],
        "resources": [
            {
                "index": b.index,
                "name": b.name,
                "start": b.start,
                "end": b.end,
                "size": b.size,
                "flags": b.flags,
            }
            for b in p.resources
        ],
        "sriov": None
        if p.sriov is None
        else {
            "total_vfs": p.sriov.total_vfs,
            "num_vfs": p.sriov.num_vfs,
            "vf_device": pci_id(p.sriov.vf_device),
            "offset": p.sriov.offset,
            "stride": p.sriov.stride,
        },
        "qat": None
        if p.qat is None
        else {
            "state": p.qat.state,
            "cfg_services": p.qat.cfg_services,
            "pm_idle_enabled": p.qat.pm_idle_enabled,
            "num_rps": p.qat.num_rps,
            "auto_reset": p.qat.auto_reset,
        },
    }
    doc["debugfs"] = None
    if dbg is not None:
        hb = dbg.heartbeat
        doc["debugfs"] = {
            "path": str(dbg.path),
            "present": dbg.present,
            "heartbeat": None
            if hb is None
            else {
                "status": hb.status,
                "queries_sent": hb.queries_sent,
                "queries_failed": hb.queries_failed,
            },
            "fw_counters": None
            if dbg.fw_counters is None
            else [
                {"engine": c.engine, "requests": c.requests, "responses": c.responses}
                for c in dbg.fw_counters
            ],
            "telemetry_control": dbg.telemetry_control,
            "dev_cfg": None
            if dbg.dev_cfg is None
            else {s: dict(kv) for s, kv in dbg.dev_cfg.items()},
            "unreadable": dict(dbg.unreadable),
        }
    return doc


class ShowCommand(Command):
    name = "show"
    help = "everything known about one QAT function (lspci -vv style)"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        add_json_flag(parser)
        add_host_args(parser)
        parser.add_argument("device", metavar="DEVICE", help=DEVICE_HELP)

    def run(self, args: argparse.Namespace) -> int:
        host = host_from(args)
        inv = discovery.discover(host)
        fn = find(inv, args.device)
        dbg = _debugfs_for(fn, host)
        if args.json:
            emit_json(show_doc(fn, inv, dbg))
        else:
            print("\n".join(text_lines(fn, inv, dbg)))
        return 0


COMMANDS = (ShowCommand,)
