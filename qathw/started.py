"""The host's accel devices as the configuration layer needs them.

:mod:`qathw.config` reads no host state; this module asks discovery which accel devices
the host has, their numbers (``qat_dev<d>``, ``inst_id``), whether each is up and what
would bring it up, and hands those facts over as :class:`~qathw.config.HostDevice`.
:mod:`qathw.sections` uses it to decide which devices are started.
"""

from __future__ import annotations

from qathw.config.devices import HostDevice
from qathw.discovery import Inventory, QatFunction, Role, discover
from qathw.paths import HostRoot


def _start_hint(fn: QatFunction) -> str:
    if fn.role is Role.EMULATED:
        return (
            f"start the backend of the emulated endpoint {fn.bdf} (for fakedev: "
            "'python -m fakedev serve FILE', then 'python -m fakedev status FILE --wait 10')"
        )
    if fn.role is Role.VF:
        pf = str(fn.pf) if fn.pf is not None else "its PF"
        return f"a VF is up when its PF is: run 'qathw up {pf}' (as root)"
    if fn.state is None:
        return f"'qathw show {fn.bdf}' says what could not be read; run it as root"
    return f"run 'qathw up {fn.bdf}' (as root)"


def host_devices(inventory: Inventory) -> tuple[HostDevice, ...]:
    """The accel devices of an inventory, in accel-id order.

    Args:
        inventory: from :func:`qathw.discovery.discover`.

    Returns:
        One :class:`HostDevice` per accel device.
    """
    return tuple(
        HostDevice(
            accel_id=fn.accel_id,
            class_name=fn.class_name,
            inst_id=fn.inst_id,
            bdf=fn.bdf,
            state=fn.state,
            start_hint=_start_hint(fn),
        )
        for fn in inventory.accel_devices
        if fn.accel_id is not None and fn.inst_id is not None
    )


def discover_host_devices(host: HostRoot) -> tuple[HostDevice, ...]:
    """:func:`host_devices` of what :func:`qathw.discovery.discover` finds on ``host``.

    Raises:
        qathw.errors.DeviceError: the PCI bus directory cannot be listed.
    """
    return host_devices(discover(host))


__all__ = ["discover_host_devices", "host_devices"]
