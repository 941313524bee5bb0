"""The section broker process: its options and its ``main``, kept lean on purpose.

``python -m qathw.broker`` (what :func:`qathw.broker.client.connect` starts) and the admin
command ``qathw broker`` both end here. This module imports only what the broker needs
(the server, the VFIO fd source, the client for a "does one run?" probe): on a slow
machine (a TCG guest) importing the whole command line — the fleet exporter and
prometheus_client among it — took longer than a client waited for the broker's socket.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from qathw.broker import client, protocol, server
from qathw.broker.rundir import default_runtime_dir
from qathw.broker.vfio_source import VfioSource
from qathw.errors import QatError
from qathw.paths import ENV_SYSFS_ROOT, HostRoot

EXIT_FAILURE = 1


def _seconds(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None


def _slot_mib(text: str) -> int:
    try:
        mib = int(text)
    except ValueError:
        mib = 0
    if mib <= 0 or mib & (mib - 1):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a power of two (give 1024 for 1 GiB, 256, ...)"
        )
    return mib


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The broker's options, except ``--sysfs-root`` (the caller adds its own).

    Args:
        parser: the parser of ``qathw broker`` or of ``python -m qathw.broker``.
    """
    parser.add_argument(
        "--runtime-dir",
        metavar="DIR",
        help="where broker.sock, broker.lock and broker.log are "
        "(default: the sections' runtime directory, $QATHW_RUNTIME_DIR, ...)",
    )
    parser.add_argument(
        "--foreground",
        action="store_true",
        help="stay in the foreground, log to stderr (for unit files)",
    )
    parser.add_argument(
        "--linger",
        type=_seconds,
        default=server.DEFAULT_LINGER,
        metavar="SECONDS",
        help=f"exit this long after the last lease ends (default {server.DEFAULT_LINGER:g}; "
        "negative: never)",
    )
    parser.add_argument(
        "--idle-exit",
        type=_seconds,
        default=server.DEFAULT_IDLE_EXIT,
        metavar="SECONDS",
        help="before any lease: exit this long after the last holder connection came or "
        f"went, or after the start (default {server.DEFAULT_IDLE_EXIT:g}; negative: never)",
    )
    parser.add_argument(
        "--iova-slot-mib",
        type=_slot_mib,
        default=server.DEFAULT_SLOT_SIZE >> 20,
        metavar="MIB",
        help="IOVA range per lease and endpoint, a power of two (default "
        f"{server.DEFAULT_SLOT_SIZE >> 20})",
    )


def run(args: argparse.Namespace, host: HostRoot) -> int:
    """Serve as the options say, unless a broker already answers.

    Args:
        args: parsed by a parser :func:`add_arguments` configured.
        host: the host root whose endpoints are lent.

    Returns:
        The exit code: 0 (also when another broker already serves).

    Raises:
        BrokerPermissionError: the runtime directory, or a file in it, is not this user's.
        BrokerError: the socket cannot be bound.
    """
    rdir = Path(args.runtime_dir) if args.runtime_dir else default_runtime_dir(host)
    running = client.status(host, runtime_dir=rdir)
    if running is not None:
        sys.stderr.write(f"qathw: a section broker already runs (pid {running.pid})\n")
        return 0
    source = VfioSource(host)
    ready = None if args.foreground else _daemonize(rdir)
    try:
        return server.serve(
            source,
            rdir,
            linger=args.linger,
            slot_size=args.iova_slot_mib << 20,
            ready=ready,
            idle_exit=args.idle_exit,
        )
    finally:
        source.close()


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m qathw.broker``: the options of ``qathw broker``, without the rest of
    the command line.

    Args:
        argv: the arguments (``sys.argv[1:]`` when ``None``).

    Returns:
        The exit code: 0, 1 on failure (the error on stderr), 2 on a usage error.
    """
    parser = argparse.ArgumentParser(
        prog="python -m qathw.broker",
        description="the section broker (the same as 'qathw broker')",
    )
    parser.add_argument(
        "--sysfs-root",
        metavar="DIR",
        help=f"lend the endpoints of the host under DIR (default ${ENV_SYSFS_ROOT}, or /)",
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    host = HostRoot.from_dir(args.sysfs_root) if args.sysfs_root else HostRoot.from_env()
    try:
        return run(args, host)
    except QatError as exc:
        sys.stderr.write(f"qathw: {exc}\n")
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 130


def _daemonize(rdir: Path) -> Callable[[int], None]:
    """A ``ready`` callback: fork once the socket listens; the parent reports and exits."""

    def ready(_pid: int) -> None:
        child = os.fork()
        if child:
            sys.stdout.write(
                f"section broker started: pid {child}, {rdir / protocol.SOCKET_NAME}\n"
            )
            sys.stdout.flush()
            os._exit(0)  # the child owns the socket and the lock now; no cleanup here
        os.setsid()
        null = os.open(os.devnull, os.O_RDWR)
        log = os.open(rdir / protocol.LOG_NAME, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        for fd, target in ((0, null), (1, null), (2, log)):
            os.dup2(target, fd)
        os.close(null)
        os.close(log)

    return ready
