"""``qathw labels``: node-feature-discovery labels for this host's QAT functions."""

from __future__ import annotations

import argparse
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from qathw import discovery
from qathw.cli import Command, UsageError, add_json_flag, emit_json
from qathw.cli.commands._host import add_host_args, host_from
from qathw.errors import QatError
from qathw.fleet import nfd

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _duration(text: str) -> timedelta:
    m = re.fullmatch(r"(\d+)([smhd]?)", text)
    if m is None or int(m.group(1)) == 0:
        raise argparse.ArgumentTypeError(
            f"'{text}' is not a positive duration (seconds, or with s, m, h or d: 90s, 2h)"
        )
    return timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2) or "s"])


class LabelsCommand(Command):
    name = "labels"
    help = "node-feature-discovery labels (feature.node.kubernetes.io/qat.*) for Kubernetes"
    epilog = (
        "Prints NFD's local feature-file format: one key=value line per label. With\n"
        f"--output {nfd.FEATURES_DIR}/ the file is replaced atomically\n"
        "(a dot file renamed into place) and NFD's worker turns it into node labels;\n"
        "run it again from a timer or after 'qathw up' to keep the labels current.\n"
        "A host without QAT gets no labels (the file then clears the old ones)."
    )

    def configure(self, parser: argparse.ArgumentParser) -> None:
        add_json_flag(parser)
        add_host_args(parser)
        parser.add_argument(
            "--output",
            type=Path,
            metavar="PATH",
            help=f"write the feature file there instead of stdout (a directory gets "
            f"'{nfd.FILE_NAME}' in it; NFD reads {nfd.FEATURES_DIR})",
        )
        parser.add_argument(
            "--expiry",
            type=_duration,
            metavar="DURATION",
            help="NFD drops the labels this long after writing unless rewritten "
            "(# +expiry-time; e.g. 10m, 1h)",
        )

    def run(self, args: argparse.Namespace) -> int:
        if args.json and args.output is not None:
            raise UsageError("--json and --output do not go together", hint="choose one")
        found = nfd.node_labels(discovery.discover(host_from(args)))
        for skipped in found.skipped:
            sys.stderr.write(f"qathw: label skipped: {skipped}\n")
        expires = datetime.now(UTC) + args.expiry if args.expiry is not None else None
        if args.json:
            emit_json(
                {
                    "labels": dict(found.labels),
                    "expiry_time": expires.isoformat() if expires else None,
                    "skipped": list(found.skipped),
                }
            )
            return 0
        text = nfd.render(found.labels, expires=expires)
        if args.output is None:
            sys.stdout.write(text)
            return 0
        path = nfd.target(args.output)
        try:
            nfd.write_atomically(path, text)
        except OSError as exc:
            raise QatError.from_oserror(
                exc,
                f"writing {path}",
                hint=f"create {path.parent} (NFD reads {nfd.FEATURES_DIR}) or run as root",
            ) from exc
        sys.stderr.write(f"qathw: {len(found.labels)} labels written to {path}\n")
        return 0


COMMANDS = (LabelsCommand,)
