"""``RLIMIT_MEMLOCK``: what is locked, whether the limit applies, and the error to give.

Memory mapped for DMA through VFIO type1 is pinned and counted as locked memory of the
process (``VmLck``) unless it has ``CAP_IPC_LOCK``; past the soft limit the kernel refuses
the mapping with ENOMEM. The process is the one calling ``VFIO_IOMMU_MAP_DMA``, also on a
container another process lent (``vfio_dma_do_map`` records ``current``'s task and mm;
drivers/vfio/vfio_iommu_type1.c), so a section holder's own limit applies. qathw checks
before it pins and turns the kernel's refusal into the same
:class:`~qathw.errors.MemlockLimitError`, with the current and needed values.
"""

from __future__ import annotations

import errno
import resource
from pathlib import Path

from qathw.errors import MemlockLimitError

_MEMLOCK_HINT = (
    "raise the limit of the process that maps the memory (each application process, also "
    "when a section broker lent it the device): 'ulimit -l <KiB>' in the shell, "
    "LimitMEMLOCK= in a systemd unit, or 'memlock' in /etc/security/limits.conf (qatlib "
    "documents 16 MB per VF plus what the application pins)"
)


def memlock_error(size: int, err: int | None = errno.ENOMEM) -> MemlockLimitError:
    """The error for pinning ``size`` more bytes past ``RLIMIT_MEMLOCK`` (current and needed)."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_MEMLOCK)
    locked = locked_bytes()
    need = locked + size
    current = "unlimited" if soft == resource.RLIM_INFINITY else f"{soft // 1024} KiB"
    return MemlockLimitError(
        f"RLIMIT_MEMLOCK is {current}; pinning {size // 1024} KiB more for DMA needs at "
        f"least {-(-need // 1024)} KiB ({locked // 1024} KiB already locked)",
        hint=_MEMLOCK_HINT,
        errno=err,
    )


def locked_bytes() -> int:
    """Bytes this process has locked (``VmLck``; VFIO type1 pins are counted there)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmLck:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def can_lock_unlimited() -> bool:
    """Whether pinning is exempt from ``RLIMIT_MEMLOCK`` (unlimited, or CAP_IPC_LOCK)."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_MEMLOCK)
    if soft == resource.RLIM_INFINITY:
        return True
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) >> 14 & 1)  # CAP_IPC_LOCK
    except (OSError, ValueError, IndexError):
        pass
    return False


def soft_limit() -> int:
    """The soft ``RLIMIT_MEMLOCK`` in bytes (``resource.RLIM_INFINITY`` when unlimited)."""
    return resource.getrlimit(resource.RLIMIT_MEMLOCK)[0]
