"""Node labels for Kubernetes, in node-feature-discovery's "local" feature-file format.

NFD's worker reads every file in ``/etc/kubernetes/node-feature-discovery/features.d/``
(not dot files; at most 64 KiB each) and turns each ``<key>[=<value>]`` line into a node
label; ``#`` lines are comments, except the directive ``# +expiry-time=<RFC 3339>``, after
which lines are ignored once that time has passed. Keys carry their namespace
(``feature.node.kubernetes.io/...``, the one NFD always allows). NFD advises writing a dot
file and renaming it, so that it never reads half a file.
Source: kubernetes-sigs/node-feature-discovery ``source/local/local.go``
(``MaxFeatureFileSize``, ``DirectiveExpiryTime``) and ``docs/usage/customization-guide.md``.

A label's name (after the ``/``) and value follow Kubernetes' syntax: at most 63
characters, alphanumeric at both ends, ``-``, ``_`` and ``.`` between (the value may be
empty). Kubernetes ``apimachinery`` ``validation.IsQualifiedName`` / ``IsValidLabelValue``.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from qathw.discovery import VFIO_DRIVERS, Inventory, Role

PREFIX = "feature.node.kubernetes.io/"
FEATURES_DIR = Path("/etc/kubernetes/node-feature-discovery/features.d")
FILE_NAME = "qathw"
MAX_FILE_SIZE = 65536  # NFD ignores a larger feature file
NAME_MAX = 63
_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")


@dataclass(frozen=True)
class Labels:
    """What :func:`node_labels` found.

    Attributes:
        labels: key (with :data:`PREFIX`) → value, in a stable order.
        skipped: ``key=value`` texts that are no valid label (a service name read from
            sysfs with characters a label cannot hold), with the reason.
    """

    labels: Mapping[str, str]
    skipped: tuple[str, ...] = ()


def label_problem(key: str, value: str) -> str | None:
    """Why ``key=value`` is not a valid Kubernetes label, or ``None`` when it is.

    Args:
        key: ``prefix/name`` or ``name``.
        value: the value ("" allowed).
    """
    prefix, _, name = key.rpartition("/")
    if prefix and (
        len(prefix) > 253 or not re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", prefix)
    ):
        return f"prefix {prefix!r} is not a DNS subdomain"
    if len(name) > NAME_MAX or not _NAME.fullmatch(name):
        return (
            f"name {name!r} must be 1-{NAME_MAX} characters, alphanumeric at both ends, "
            "with - _ . between"
        )
    if value and (len(value) > NAME_MAX or not _NAME.fullmatch(value)):
        return (
            f"value {value!r} must be at most {NAME_MAX} characters, alphanumeric at both "
            "ends, with - _ . between"
        )
    return None


def node_labels(inventory: Inventory) -> Labels:
    """The labels that describe this host's QAT functions to a scheduler.

    ``qat.present`` and counts (``qat.pf-count``, ``qat.pf-up-count``, ``qat.vf-count``,
    ``qat.vfio-vf-count``: the VFs a device plugin can hand to pods,
    ``qat.emulated-count``), one ``qat.<generation>`` and ``qat.product.<product>`` per
    kind present, one ``qat.service.<service>`` per service an up PF (or its VFs) offers.
    A host without QAT gets no label at all (so a written file clears old ones).

    Args:
        inventory: from :func:`qathw.discovery.discover`.

    Returns:
        The labels and what was skipped.
    """
    fns = list(inventory)
    if not fns:
        return Labels({})
    pfs = [f for f in fns if f.role is Role.PF]
    vfs = [f for f in fns if f.role is Role.VF]
    emulated = [f for f in fns if f.role is Role.EMULATED]
    raw: dict[str, str] = {"qat.present": "true"}
    raw["qat.pf-count"] = str(len(pfs))
    raw["qat.pf-up-count"] = str(sum(1 for f in pfs if f.state == "up"))
    raw["qat.vf-count"] = str(len(vfs))
    raw["qat.vfio-vf-count"] = str(sum(1 for f in vfs if f.pci.driver in VFIO_DRIVERS))
    if emulated:
        raw["qat.emulated-count"] = str(len(emulated))
    for label in sorted({f.generation.traits.label for f in fns}):
        raw[f"qat.{label}"] = "true"
    for product in sorted({f.kind.family.product for f in pfs + emulated}):
        raw[f"qat.product.{product}"] = "true"
    services = {s for f in pfs if f.state == "up" for s in (f.services or "").split(";") if s}
    for service in sorted(services):
        raw[f"qat.service.{service}"] = "true"
    labels: dict[str, str] = {}
    skipped: list[str] = []
    for name, value in raw.items():
        key = PREFIX + name
        why = label_problem(key, value)
        if why is None:
            labels[key] = value
        else:
            skipped.append(f"{key}={value}: {why}")
    return Labels(labels, tuple(skipped))


def render(labels: Mapping[str, str], *, expires: datetime | None = None) -> str:
    """The feature file: a comment, the expiry directive if any, one line per label.

    Args:
        labels: key → value.
        expires: when NFD should stop applying the labels (RFC 3339, UTC).

    Returns:
        The text, newline-terminated.
    """
    lines = ["# QAT labels written by 'qathw labels'; rewritten, never edited by hand"]
    if expires is not None:
        stamp = expires.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
        lines.append(f"# +expiry-time={stamp}")
    lines += [f"{k}={v}" for k, v in labels.items()]
    return "\n".join(lines) + "\n"


def target(output: Path) -> Path:
    """The file ``--output`` names: a directory gets :data:`FILE_NAME` in it."""
    return output / FILE_NAME if output.is_dir() else output


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` so that a reader sees the old file or the new one.

    The text goes to a dot file in the same directory (NFD skips dot files), is flushed
    to disk, and is renamed over ``path``.

    Raises:
        ValueError: the text exceeds NFD's :data:`MAX_FILE_SIZE`.
        OSError: the directory is missing or not writable.
    """
    data = text.encode()
    if len(data) > MAX_FILE_SIZE:
        raise ValueError(f"{len(data)} bytes: NFD ignores feature files over {MAX_FILE_SIZE}")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600; NFD's worker may run as another user
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


__all__ = [
    "FEATURES_DIR",
    "FILE_NAME",
    "PREFIX",
    "Labels",
    "label_problem",
    "node_labels",
    "render",
    "target",
    "write_atomically",
]
