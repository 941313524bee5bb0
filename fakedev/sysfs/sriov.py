"""The write rule of ``sriov_numvfs`` (docs/hardware.md#sysfs-abi).

All or nothing: any N > 0 enables ``sriov_totalvfs`` VFs, as the QAT driver does; the
same count again is a no-op, another non-zero count ``EBUSY``; N > total ``ERANGE``; no
PF driver ``ENOENT``; no IOMMU ``EINVAL``; disabling while the PF or a VF is in use
``EBUSY``. Enabling brings a down PF up.
"""

from __future__ import annotations

import errno
from pathlib import Path

from fakedev.sysfs.bus import PciBus
from fakedev.sysfs.qat_pf import QatPfDriver
from fakedev.sysfs.tree import kernel_error

_MAX_VFS = 0xFFFF  # the attribute holds a u16


def store_numvfs(bus: PciBus, pf: QatPfDriver, d: Path, text: str, shown: Path) -> None:
    """Apply a write of ``text`` to the ``sriov_numvfs`` of the PF at ``d``.

    Raises:
        OSError: the kernel's refusal, with its errno (see the module).
    """
    t = bus.tree
    try:
        want = int(text.strip(), 0)
    except ValueError:
        raise kernel_error(errno.EINVAL, shown) from None
    if not 0 <= want <= _MAX_VFS:
        raise kernel_error(errno.EINVAL, shown)
    bdf = d.name
    total = int(t.text(d / "sriov_totalvfs"))
    current = int(t.text(d / "sriov_numvfs"))
    with t.state() as state:
        if want > total:
            raise kernel_error(errno.ERANGE, shown)
        if want == current:
            return
        drv = t.driver(d)
        kind = t.kind(d)
        if drv is None or kind is None or drv != kind.family.pf_driver:
            t.log(state, bdf, "no driver bound to device; cannot configure SR-IOV")
            raise kernel_error(errno.ENOENT, shown)
        # From here on it is the QAT driver's sriov_configure.
        if want == 0:
            vfs = [t.dev_dir(v) for v in bus.virtfns(d)]
            if t.busy(state, bdf) or any(v.name in state["in_use"] for v in vfs):
                t.log(state, bdf, "Cannot disable SR-IOV, device in use")
                raise kernel_error(errno.EBUSY, shown)
            bus.disable_vfs(state, d)
            pf.write_dev_cfg(state, d, kind, up=pf.is_up(d))
            return
        if current:
            t.log(state, bdf, f"{current} VFs already enabled. Disable before enabling {want} VFs")
            raise kernel_error(errno.EBUSY, shown)
        if state["iommu"] == "off":
            t.log(state, bdf, "IOMMU should be enabled for SR-IOV to work correctly")
            raise kernel_error(errno.EINVAL, shown)
        if t.busy(state, bdf):
            t.log(state, bdf, "Device busy")
            raise kernel_error(errno.EBUSY, shown)
        if not pf.is_up(d):
            code = pf.start(state, d, kind)
            if code:
                raise kernel_error(code, shown)
        if want != total:
            t.log(state, bdf, f"{want} VFs requested; only {total} enabled")
        bus.enable_vfs(state, d, kind)
        pf.write_dev_cfg(state, d, kind, up=True)
