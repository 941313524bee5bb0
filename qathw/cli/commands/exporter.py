"""``qathw exporter``: Prometheus metrics of this host's QAT functions, over HTTP."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from qathw.cli import Command, UsageError
from qathw.cli.commands._host import add_host_args, host_from
from qathw.fleet.exporter import DEFAULT_LISTEN, Exporter, parse_listen

_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class ExporterCommand(Command):
    name = "exporter"
    help = "serve Prometheus metrics of this host's QAT functions (GET /metrics)"
    epilog = (
        "Every scrape reads the host afresh: inventory, up/down, services, VFs, heartbeat,\n"
        "telemetry (when enabled), emulated endpoints' device counters, section holders.\n"
        "debugfs (heartbeat, telemetry) needs root; without it those metrics are left out\n"
        "and counted in qat_scrape_errors_total. Stops on SIGTERM or SIGINT.\n"
        "Metrics and a Grafana dashboard: docs/operators.md."
    )

    def configure(self, parser: argparse.ArgumentParser) -> None:
        add_host_args(parser)
        parser.add_argument(
            "--listen",
            default=DEFAULT_LISTEN,
            metavar="ADDR:PORT",
            help=f"where to listen (default {DEFAULT_LISTEN}; ':PORT' for every address, "
            "'[::1]:PORT' for IPv6, port 0 for a free one)",
        )
        parser.add_argument(
            "--config-dir",
            metavar="DIR",
            help="where <type>_dev<N>.conf are, for section holders (default "
            "$QATHW_CONFIG_DIR or /etc)",
        )
        parser.add_argument(
            "--runtime-dir",
            metavar="DIR",
            help="where section locks are (default $QATHW_RUNTIME_DIR, ...)",
        )

    def run(self, args: argparse.Namespace) -> int:
        # Only this command needs prometheus_client (the collector's metric families):
        # importing it here keeps every other 'qathw' command from paying for it.
        from qathw.fleet.metrics import QatCollector

        try:
            address, port = parse_listen(args.listen)
        except ValueError as exc:
            raise UsageError(
                f"--listen: {exc}", hint=f"e.g. --listen {DEFAULT_LISTEN} or --listen :9756"
            ) from None
        collector = QatCollector(
            host_from(args), config_dir=args.config_dir, runtime_dir=args.runtime_dir
        )
        stop = threading.Event()

        def on_signal(signum: int, frame: FrameType | None) -> None:
            stop.set()

        # Handlers first: a signal that arrives once the socket is open must stop cleanly.
        previous = {sig: signal.signal(sig, on_signal) for sig in _STOP_SIGNALS}
        exporter = Exporter(collector, address, port)
        try:
            host, bound = exporter.start()
            shown = f"[{host}]" if ":" in host else host
            sys.stderr.write(f"qathw exporter: serving http://{shown}:{bound}/metrics\n")
            sys.stderr.flush()
            while not stop.wait(3600):
                pass
        finally:
            exporter.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        sys.stderr.write("qathw exporter: stopped\n")
        return 0


COMMANDS = (ExporterCommand,)
