"""``qathw status``: ``adf_ctl status``'s lines, exactly, so existing scripts keep working.

The line format is the out-of-tree ``adf_ctl``'s (docs/hardware.md#adf_ctl-status),
one header line then one line per device (shown folded here)::

    There is 3 QAT acceleration device(s) in the system:
     qat_dev0 - type: c6xx,  inst_id: 0,  node_id: 0,  bsf: 0000:3d:00.0,  \
    #accel: 5 #engines: 10 state: up

Devices are the accel devices of :mod:`qathw.discovery` in ``qat_devN`` order — which
adds VFs bound to vfio-pci and emulated endpoints to what ``adf_ctl`` (asking the kernel)
would list. ``qathw status qat_devN`` (or a BDF) prints that device's line alone, as
``adf_ctl qat_devN status`` does.
"""

from __future__ import annotations

import argparse
from typing import Any

from qathw import discovery
from qathw.cli import Command, UsageError, add_json_flag, emit_json
from qathw.cli.commands._host import add_host_args, address, host_from
from qathw.discovery import QatFunction, Role
from qathw.errors import DeviceNotFoundError


def numbers(fn: QatFunction) -> tuple[int, int]:
    """``#accel`` and ``#engines``: the family's for a PF, 1 and 1 for a VF (as its driver)."""
    if fn.is_vf:
        return 1, 1
    fam = fn.kind.family
    return fam.accel or 0, fam.engines or 0


def node_id(fn: QatFunction) -> int:
    """The NUMA node as adf_ctl prints it (no node: 0)."""
    node = fn.pci.numa_node
    return node if node is not None and node >= 0 else 0


def status_line(fn: QatFunction) -> str:
    """One device line of ``adf_ctl status``."""
    accel, engines = numbers(fn)
    a = fn.address
    state = "up" if fn.state == "up" else "down"
    return (
        f" qat_dev{fn.accel_id} - type: {fn.class_name},  inst_id: {fn.inst_id},  "
        f"node_id: {node_id(fn)},  bsf: {a.domain:04x}:{a.bus:02x}:{a.device:02x}.{a.function:x},  "
        f"#accel: {accel} #engines: {engines} state: {state}"
    )


def status_doc(fn: QatFunction) -> dict[str, Any]:
    """One device of ``status --json``, in the vocabulary of ``list --json`` (docs/admin.md)."""
    accel, engines = numbers(fn)
    return {
        "name": f"qat_dev{fn.accel_id}",
        "accel_id": fn.accel_id,
        "class_name": fn.class_name,
        "inst_id": fn.inst_id,
        "numa_node": fn.pci.numa_node,
        "bdf": fn.bdf,
        "num_accel": accel,
        "num_engines": engines,
        "state": "up" if fn.state == "up" else "down",
        "role": fn.role.value,
        "emulated": fn.role is Role.EMULATED,
    }


class StatusCommand(Command):
    name = "status"
    help = "adf_ctl-style status of every QAT acceleration device"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        add_json_flag(parser)
        add_host_args(parser)
        parser.add_argument("device", nargs="?", help="qat_devN or a BDF: that device only")

    def run(self, args: argparse.Namespace) -> int:
        host = host_from(args)
        devices = list(discovery.discover(host).accel_devices)
        if args.device is not None:
            devices = [_select(devices, args.device)]
            if args.json:
                emit_json({"devices": [status_doc(devices[0])]})
            else:
                print(status_line(devices[0]))
            return 0
        if args.json:
            emit_json({"count": len(devices), "devices": [status_doc(d) for d in devices]})
            return 0
        print(f"There is {len(devices)} QAT acceleration device(s) in the system:")
        for d in devices:
            print(status_line(d))
        return 0


def _select(devices: list[QatFunction], name: str) -> QatFunction:
    if name.startswith("qat_dev"):
        number = name[len("qat_dev") :]
        if not number.isdigit():
            raise UsageError(f"'{name}' is not a device name", hint="write qat_devN, e.g. qat_dev0")
        for d in devices:
            if d.accel_id == int(number):
                return d
    else:
        addr = address(name)
        for d in devices:
            if d.address == addr:
                return d
    raise DeviceNotFoundError(
        f"no QAT acceleration device {name}",
        hint="'qathw status' lists them (unbound functions are not accel devices)",
    )


COMMANDS = (StatusCommand,)
