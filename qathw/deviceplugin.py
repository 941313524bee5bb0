"""Which VFs Intel's Kubernetes QAT device plugin would expose, and as which resource.

The plugin (intel/intel-device-plugins-for-kubernetes, ``cmd/qat_plugin``: ``qat_plugin.go``
flags, ``dpdkdrv/dpdkdrv.go`` ``getVfDevices``, ``scan``, ``getDeviceCapabilities``,
``readDeviceConfiguration``), with its default flags:

* ``-kernel-vf-drivers=4xxxvf,420xxvf``: it looks at the PFs bound to ``4xxx`` and then
  ``420xx`` (each VF driver name without ``vf``), in address order, and takes their
  ``virtfn*`` links in the order a glob sorts them (``virtfn0``, ``virtfn1``,
  ``virtfn10`` ... ``virtfn15``, ``virtfn2`` ...);
* ``-max-num-devices=64``: it keeps the first 64 of those;
* ``-dpdk-driver=vfio-pci``: a VF on another driver is unbound and bound to vfio-pci at
  each scan;
* the resource is ``qat.intel.com/<services>``: ``cy`` for ``sym;asym`` in either order,
  else the PF's services with ``;`` written ``-`` (from ``qat/cfg_services`` while the PF
  is up, else ``ServicesEnabled`` of debugfs ``dev_cfg``; ``generic`` when unknown).

With no PF on one of those drivers (a VM), it takes every VF whose device id maps to one
of those drivers. Gen2 VFs are not in the defaults (and vfio-pci refuses them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from qathw.discovery import Inventory, QatFunction, Role

KERNEL_VF_DRIVERS = ("4xxxvf", "420xxvf")  # -kernel-vf-drivers default
MAX_DEVICES = 64  # -max-num-devices default
DPDK_DRIVER = "vfio-pci"  # -dpdk-driver default
RESOURCE_PREFIX = "qat.intel.com/"


@dataclass(frozen=True)
class Exposure:
    """The plugin's view of one VF.

    Attributes:
        exposed: whether the plugin advertises it.
        resource: the extended resource it is advertised as (``qat.intel.com/cy``).
        reason: why (not) in a sentence, naming the flag that decides.
    """

    exposed: bool
    resource: str | None
    reason: str

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready mapping."""
        return {"exposed": self.exposed, "resource": self.resource, "reason": self.reason}


def _glob_key(vf_index: int) -> str:
    # Go's filepath.Glob sorts names as strings: virtfn10 comes before virtfn2.
    return f"virtfn{vf_index}"


def resource(pf: QatFunction | None) -> str:
    """The resource a VF of ``pf`` is advertised as."""
    services = pf.services if pf is not None else None
    if not services:
        return RESOURCE_PREFIX + "generic"
    if sorted(services.split(";")) == ["asym", "sym"]:
        return RESOURCE_PREFIX + "cy"
    return RESOURCE_PREFIX + services.replace(";", "-")


def exposures(inv: Inventory) -> Mapping[str, Exposure]:
    """The plugin's view of every VF of ``inv``, by BDF.

    Args:
        inv: the host's QAT functions.

    Returns:
        One :class:`Exposure` per VF (emulated endpoints and PFs are not its business).
    """
    flag = f"-kernel-vf-drivers={','.join(KERNEL_VF_DRIVERS)}"
    pf_drivers = [d.removesuffix("vf") for d in KERNEL_VF_DRIVERS]
    pfs = [
        pf
        for drv in pf_drivers
        for pf in sorted(inv.pfs, key=lambda f: f.bdf)
        if pf.pci.driver == drv
    ]
    order: list[QatFunction] = []
    if pfs:
        for pf in pfs:
            vfs = list(pf.vfs)
            ranked = sorted(range(len(vfs)), key=_glob_key)
            by_addr = {v.address: v for v in inv.vfs_of(pf)}
            order += [by_addr[vfs[i]] for i in ranked if vfs[i] in by_addr]
    else:
        order = [v for v in inv.vfs if v.class_name in KERNEL_VF_DRIVERS]
    taken = {v.bdf: n for n, v in enumerate(order)}
    out: dict[str, Exposure] = {}
    for vf in inv.functions:
        if vf.role is not Role.VF:
            continue
        parent = inv.pf_of(vf)
        res = resource(parent)
        n = taken.get(vf.bdf)
        if n is None:
            if vf.class_name not in KERNEL_VF_DRIVERS:
                why = f"{vf.class_name} is not in the plugin's default {flag}"
            else:
                why = "its PF is not bound to a driver the plugin looks for"
            out[vf.bdf] = Exposure(False, None, why)
        elif n >= MAX_DEVICES:
            out[vf.bdf] = Exposure(
                False,
                None,
                f"number {n + 1} in the plugin's scan order, beyond its default "
                f"-max-num-devices={MAX_DEVICES}",
            )
        elif vf.pci.driver != DPDK_DRIVER:
            out[vf.bdf] = Exposure(
                True,
                res,
                f"on {vf.pci.driver or 'no driver'}; the plugin rebinds it to {DPDK_DRIVER}",
            )
        else:
            out[vf.bdf] = Exposure(True, res, f"on {DPDK_DRIVER}")
    return out
