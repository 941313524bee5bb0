"""What the host needs to boot a guest, found or explained.

Everything is looked up, never assumed: the QEMU binary, a kernel image whose modules
are installed (both guest profiles build an initramfs from ``/lib/modules/<release>``), a
statically linked busybox (it goes into that initramfs) and, for the virtme-ng profile,
the ``vng`` script of the running virtual env.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import sys
from dataclasses import dataclass
from pathlib import Path

from vm.errors import VmUnavailableError

PROJECT_ROOT = Path(__file__).resolve().parent.parent  # the checkout the guests run
ENV_KERNEL = "QATHW_VM_KERNEL"
ENABLE_HINT = (
    "run as root: 'make test' installs qemu-system-x86, linux-image-amd64 and busybox-static "
    "through apt (or install them yourself)"
)


@dataclass(frozen=True)
class HostTools:
    """The programs and files a guest boot needs."""

    qemu: Path
    kernel: Path
    release: str
    vng: Path | None
    busybox: Path

    @property
    def bin_dir(self) -> Path:
        """The virtual env's ``bin`` (vng calls ``virtme-run`` through ``PATH``)."""
        return Path(sys.executable).parent


def _release_of(kernel: Path) -> str:
    return re.sub(r"^vmlinuz-", "", kernel.name)


def _kernel_candidates() -> list[Path]:
    env = os.environ.get(ENV_KERNEL)
    if env:
        return [Path(env)]
    found = sorted(Path("/boot").glob("vmlinuz-*"), key=lambda p: p.stat().st_mtime, reverse=True)
    return found


def _is_static(path: Path) -> bool:
    """True for a 64-bit ELF executable without an interpreter (no PT_INTERP header)."""
    try:
        with open(path, "rb") as f:
            head = f.read(64)
            if len(head) < 64 or head[:4] != b"\x7fELF" or head[4] != 2:
                return False
            (phoff,) = struct.unpack_from("<Q", head, 0x20)
            phentsize, phnum = struct.unpack_from("<HH", head, 0x36)
            f.seek(phoff)
            table = f.read(phentsize * phnum)
    except OSError:
        return False
    pt_interp = 3
    return all(struct.unpack_from("<I", table, i * phentsize)[0] != pt_interp for i in range(phnum))


def find_tools(*, vng: bool = True) -> HostTools:
    """Locate QEMU, a kernel with modules, a static busybox and (with ``vng``) virtme-ng.

    Args:
        vng: the virtme-ng profile's guests need ``vng``; the migratable profile's do not.

    Raises:
        VmUnavailableError: something is missing; the message names it and how to install it.
    """
    missing: list[str] = []
    qemu = shutil.which("qemu-system-x86_64")
    if qemu is None:
        missing.append("qemu-system-x86_64 (package qemu-system-x86)")
    kernel: Path | None = None
    for cand in _kernel_candidates():
        if cand.is_file() and os.access(cand, os.R_OK):
            if (Path("/lib/modules") / _release_of(cand)).is_dir():
                kernel = cand
                break
    if kernel is None:
        missing.append("a readable /boot/vmlinuz-* with its /lib/modules (linux-image-amd64)")
    busybox = next(
        (Path(p) for p in (shutil.which(n) for n in ("busybox-static", "busybox")) if p),
        None,
    )
    if busybox is None or not _is_static(busybox):
        missing.append("a statically linked busybox (package busybox-static)")
    vng_script = Path(sys.executable).parent / "vng"
    if vng and not vng_script.exists():
        missing.append("virtme-ng in this virtual env (pip install -e '.[vm]')")
    if missing or qemu is None or kernel is None or busybox is None:
        raise VmUnavailableError(
            f"cannot boot a guest: missing {'; '.join(missing)}; {ENABLE_HINT}"
        )
    return HostTools(Path(qemu), kernel, _release_of(kernel), vng_script if vng else None, busybox)


def missing_reason(*, vng: bool = True) -> str | None:
    """Why guests (of the virtme-ng profile, with ``vng``) cannot boot here, or ``None``."""
    try:
        find_tools(vng=vng)
    except VmUnavailableError as exc:
        return str(exc)
    return None
