"""``python -m fakedev``: create, serve, inspect and poke emulated QAT endpoints.

Commands::

    create PATH [--device 4xxxvf] [--size 16M] [--force]   make an endpoint file
    serve PATH [--services sym;asym]                       run the device until SIGTERM
    status PATH [--json] [--wait S]                        show the control page
    inject PATH restart|fatal                              fault a serving backend
    suspend PATH [--timeout S] [--json]                    ask the frontend to suspend
    resume PATH                                            withdraw the suspend request

Exit status: 0 ok, 1 failure (``fakedev: <what>`` on stderr), 2 usage. ``suspend`` and
``resume`` also exit 2 for a path that is no endpoint file (bad input, nothing written);
``suspend`` exits 1 when some bank of the frontend did not acknowledge in time (the
request stays set until ``resume``).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import signal
import sys
import time
from collections.abc import Sequence
from typing import Any

from fakedev import endpoint_file, suspend
from fakedev.device import Device, Fault, services_text
from fakedev.endpoint_file import EndpointFileError
from fakedev.runner import INJECT_SIGNALS, exit_on_sigbus, serve
from qathw import emulated
from qathw.emulated import Feature, XenbusState, qathw_emu_control
from qathw.pci_regs import PCI_COMMAND_MASTER
from qathw.transport import pfvf

STATUS_SCHEMA_VERSION = 1
_SUFFIXES = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def parse_size(text: str) -> int:
    """``16M``, ``1g``, ``0x1000000`` or ``16777216`` as bytes."""
    t = text.strip().lower().removesuffix("ib").removesuffix("b")
    try:
        if t and t[-1] in _SUFFIXES:
            return int(t[:-1], 0) * _SUFFIXES[t[-1]]
        return int(t, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"'{text}' is not a size; use bytes or a K/M/G suffix, e.g. 16M"
        ) from None


class BadInputError(Exception):
    """Input a command refuses before doing anything (exit status 2)."""


def parse_timeout(text: str) -> float:
    """A number of seconds, finite and >= 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of seconds >= 0")
    return value


def parse_services(text: str) -> int:
    try:
        return pfvf.ring_service_map_from_names(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _cmd_create(args: argparse.Namespace) -> int:
    info = endpoint_file.create(args.path, args.device, size=args.size, force=args.force)
    w = info.windows
    print(
        f"created {args.path}: {info.kind.class_name} ({info.vendor_id:04x}:{info.device_id:04x}),"
        f" {info.num_banks} banks, {w.total_size >> 20} MiB, device memory {w.devmem_size:#x}"
        f" bytes at IOVA {w.devmem_iova:#x}"
    )
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    def ready(device: Device) -> None:
        print(f"serving {args.path} (pid {os.getpid()})", flush=True)

    exit_on_sigbus(args.path)
    return serve(args.path, ring_service_map=args.services, ready=ready)


def status(path: str) -> dict[str, Any]:
    """The control page of ``path`` as a dict (what ``status --json`` prints).

    A guest may have written any byte of the page: its text is cleaned, and the backend's
    pid comes from the host-side backend lock, not from the page.
    """
    fd = endpoint_file.open_regular(path)
    try:
        info = endpoint_file.read_info(path, fd)
        raw, _ = endpoint_file.read_page(fd, path)
    finally:
        os.close(fd)
    page = qathw_emu_control.from_buffer_copy(raw)
    defect = emulated.read_defect(raw)
    w = info.windows
    pid = endpoint_file.holder_pid(path)
    f = info.features
    epoch = info.backend_epoch
    return {
        "schema_version": STATUS_SCHEMA_VERSION,
        "path": str(path),
        "device": info.kind.class_name,
        "pci_id": f"{info.vendor_id:04x}:{info.device_id:04x}",
        "generation": int(info.kind.generation),
        "banks": info.num_banks,
        "rings_per_bank": info.rings_per_bank,
        "size": w.total_size,
        "windows": {
            "csr": [w.csr_offset, w.csr_size],
            "pmisc": [w.pmisc_offset, w.pmisc_size],
            "devmem": [w.devmem_offset, w.devmem_size],
        },
        "devmem_iova": w.devmem_iova,
        "frontend_state": info.frontend_state.name,
        "backend_state": info.backend_state.name,
        "backend_epoch": info.backend_epoch,
        "backend_heartbeat": page.backend_heartbeat,
        "backend_pid": pid,
        "backend_alive": bool(pid),
        "pci_command": page.pci_command,
        "bus_master": bool(page.pci_command & PCI_COMMAND_MASTER),
        "device_error_count": page.device_error_count,
        # The page is shared with the frontend (maybe a hostile guest): text cleaned.
        "device_error": emulated.clean_text(page.device_error, emulated.DEVICE_ERROR_LEN - 1),
        "defect_count": defect.count,
        "defect": defect.text,
        # The split driver (docs/split-driver.md); words the frontend writes are shown as
        # they are, and only compared.
        "frontend_epoch": info.frontend_epoch,
        "features": {
            "published": f.published,
            "flags": [flag.name for flag in Feature if flag in f.flags],
            "ring_service_map": f.ring_service_map,
            "services": services_text(f.ring_service_map) if f.ring_service_map else None,
            "capabilities": f.capabilities,
            "min_ring_bytes": f.min_ring_bytes,
            "max_ring_bytes": f.max_ring_bytes,
        },
        "pf_state": {"vf_compat": page.pf_state.vf_compat, "vf_init": page.pf_state.vf_init},
        "device_resets": info.device_resets,
        "suspend_request": info.suspend_request,
        "links": [
            {
                "bank": link.bank,
                "epoch": link.epoch,
                "current": bool(epoch) and link.epoch == epoch,
                "suspend_ack": link.suspend_ack,
            }
            for link in emulated.read_links(raw, info.num_banks)
        ],
    }


# The states a running backend writes: InitWait until a frontend has handshaken, then
# Connected (Device.connect, Device.step).
_SERVING = (XenbusState.INIT_WAIT.name, XenbusState.CONNECTED.name)


def _serving(st: dict[str, Any]) -> bool:
    return bool(st["backend_alive"]) and st["backend_state"] in _SERVING


def _banks(banks: Sequence[int]) -> str:
    return ", ".join(str(b) for b in banks) if banks else "none"


def _split_driver_rows(st: dict[str, Any]) -> list[tuple[str, str]]:
    f = st["features"]
    if f["published"]:
        services = f"{f['services']} " if f["services"] else ""
        mapping = f"{services}(map {f['ring_service_map']:#06x}), " if f["ring_service_map"] else ""
        features = (
            f"{mapping}capabilities {f['capabilities']:#x}, rings {f['min_ring_bytes']} to "
            f"{f['max_ring_bytes']} bytes, {'+'.join(f['flags']).lower()}"
        )
    else:
        features = "none published (no backend has served this file yet)"
    pf = st["pf_state"]
    agent = (
        f"VF version {pf['vf_compat']}, INIT {'sent' if pf['vf_init'] == 1 else 'not sent'}"
        if pf["vf_compat"] or pf["vf_init"]
        else "nothing recorded"
    )
    linked = [link["bank"] for link in st["links"] if link["current"]]
    request = st["suspend_request"]
    if request:
        acked = [b for b in linked if st["links"][b]["suspend_ack"] == request]
        suspend = f"requested ({request}), acknowledged by banks {_banks(acked)}"
    else:
        suspend = "none requested"
    return [
        ("frontend epoch", f"{st['frontend_epoch']:#x}"),
        ("features", features),
        ("pf agent", agent),
        ("linked banks", f"{_banks(linked)} (of {st['banks']})"),
        ("suspend", suspend),
        ("device resets", str(st["device_resets"])),
    ]


def _cmd_status(args: argparse.Namespace) -> int:
    st = status(args.path)
    if args.wait is not None:
        deadline = time.monotonic() + args.wait
        while not _serving(st):
            if time.monotonic() >= deadline:
                raise EndpointFileError(
                    f"no backend is serving {args.path} after {args.wait:g} s; start one with "
                    f"'python -m fakedev serve {args.path}'"
                )
            time.sleep(0.02)
            st = status(args.path)
    if args.json:
        json.dump(st, sys.stdout, indent=2)
        print()
        return 0
    backend = st["backend_state"]
    if st["backend_pid"]:  # the backend lock's holder, alive
        backend += f" (pid {st['backend_pid']}, running)"
    rows = [
        ("device", f"{st['device']} ({st['pci_id']}), gen{st['generation']}, {st['banks']} banks"),
        ("size", f"{st['size']:#x}, device memory at IOVA {st['devmem_iova']:#x}"),
        ("frontend", st["frontend_state"]),
        ("backend", backend),
        ("epoch", f"{st['backend_epoch']:#x}"),
        ("heartbeat", str(st["backend_heartbeat"])),
        ("bus master", "on" if st["bus_master"] else "off"),
        *_split_driver_rows(st),
        ("device errors", str(st["device_error_count"])),
    ]
    if st["device_error"]:
        rows.append(("last error", st["device_error"]))
    rows.append(("defects", f"{st['defect_count']} (bugs of fakedev itself)"))
    if st["defect"]:
        rows.append(("last defect", st["defect"]))
    for name, value in rows:
        print(f"{name:14} {value}")
    return 0


def _cmd_inject(args: argparse.Namespace) -> int:
    endpoint_file.read_info(args.path)  # an endpoint at all (a hint if not)
    pid = endpoint_file.holder_pid(args.path)  # never the control page's pid
    if not pid:
        raise EndpointFileError(
            f"no backend is serving {args.path}; start one with 'python -m fakedev serve "
            f"{args.path}'"
        )
    signum = next(sig for sig, fault in INJECT_SIGNALS.items() if fault.value == args.fault)
    os.kill(pid, signum)
    print(f"sent {args.fault} to the backend of {args.path} (pid {pid})")
    return 0


def _endpoint_or_bad_input(path: str) -> None:
    try:
        endpoint_file.read_info(path)
    except EndpointFileError as exc:
        raise BadInputError(str(exc)) from None


def _cmd_suspend(args: argparse.Namespace) -> int:
    _endpoint_or_bad_input(args.path)
    result = suspend.request_suspend(args.path, timeout=args.timeout)
    if args.json:
        doc = {
            "schema_version": STATUS_SCHEMA_VERSION,
            "path": result.path,
            "request": result.request,
            "backend_epoch": result.backend_epoch,
            "banks": list(result.banks),
            "acknowledged": list(result.acknowledged),
            "unanswered": list(result.unanswered),
            "complete": result.complete,
            "waited": round(result.waited, 6),
        }
        json.dump(doc, sys.stdout, indent=2)
        print()
        return 0 if result.complete else 1
    resume = f"'python -m fakedev resume {args.path}' withdraws it"
    if not result.banks:
        print(
            f"{args.path}: no frontend holds a bank under the current backend epoch, nothing "
            f"to wait for; suspend request {result.request} stays set ({resume})"
        )
        return 0
    if result.complete:
        print(
            f"suspended {args.path}: banks {_banks(result.acknowledged)} acknowledged request "
            f"{result.request} in {result.waited:.3f} s ({resume})"
        )
        return 0
    raise EndpointFileError(
        f"{args.path}: banks {_banks(result.unanswered)} did not acknowledge suspend request "
        f"{result.request} within {args.timeout:g} s (acknowledged: "
        f"{_banks(result.acknowledged)}); the frontend is busy, stuck or gone: try a longer "
        f"--timeout; the request stays set ({resume})"
    )


def _cmd_resume(args: argparse.Namespace) -> int:
    _endpoint_or_bad_input(args.path)
    previous = suspend.cancel_suspend(args.path)
    if previous:
        print(f"resumed {args.path}: suspend request {previous} withdrawn")
    else:
        print(f"{args.path}: no suspend request was pending")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m fakedev", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log device events")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("create", help="create an emulated endpoint file")
    p.add_argument("path")
    p.add_argument(
        "--device",
        default=endpoint_file.DEFAULT_DEVICE,
        help="QAT class name: 4xxxvf (gen4 VF, default), 4xxx (gen4 PF, 64 banks), c6xxvf",
    )
    p.add_argument(
        "--size",
        type=parse_size,
        default=endpoint_file.DEFAULT_SIZE,
        help="total size, a power of two (default 16M)",
    )
    p.add_argument("--force", action="store_true", help="replace an existing file")
    p.set_defaults(func=_cmd_create)

    p = sub.add_parser("serve", help="run the device model until SIGTERM")
    p.add_argument("path")
    p.add_argument(
        "--services",
        type=parse_services,
        default=None,
        help="bank services, as the kernel's cfg_services (default sym;asym)",
    )
    p.set_defaults(func=_cmd_serve)

    p = sub.add_parser("status", help="show an endpoint's control page")
    p.add_argument("path")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument(
        "--wait",
        type=float,
        metavar="SECONDS",
        help="first wait up to SECONDS for a backend to be serving (exit 1 if none comes)",
    )
    p.set_defaults(func=_cmd_status)

    p = sub.add_parser("inject", help="inject a fault into a serving backend")
    p.add_argument("path")
    p.add_argument("fault", choices=[f.value for f in Fault])
    p.set_defaults(func=_cmd_inject)

    p = sub.add_parser(
        "suspend", help="ask an endpoint's frontend to suspend and wait for its acknowledgement"
    )
    p.add_argument("path")
    p.add_argument(
        "--timeout",
        type=parse_timeout,
        default=suspend.DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"wait at most SECONDS for every bank to answer (default {suspend.DEFAULT_TIMEOUT:g})",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_suspend)

    p = sub.add_parser("resume", help="withdraw an endpoint's suspend request")
    p.add_argument("path")
    p.set_defaults(func=_cmd_resume)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="fakedev: %(message)s",
        stream=sys.stderr,
    )
    try:
        return int(args.func(args))
    except BadInputError as exc:
        print(f"fakedev: {exc}", file=sys.stderr)
        return 2
    except (EndpointFileError, ProcessLookupError, PermissionError) as exc:
        print(f"fakedev: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(main())
