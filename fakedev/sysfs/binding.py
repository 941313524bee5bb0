"""Write rules of driver binding: ``drivers_probe``, ``bind``, ``unbind``, ``new_id``,
``driver_override`` (Linux ``Documentation/ABI/testing/sysfs-bus-pci``).

A failed probe leaves the device unbound and the ``drivers_probe`` write succeeds, as in
the kernel; an explicit ``bind`` that fails is ``EINVAL``.
"""

from __future__ import annotations

import errno
from pathlib import Path

from fakedev.sysfs.bus import VFIO_DRIVERS, PciBus
from fakedev.sysfs.tree import kernel_error

_OVERRIDE_MAX = 4096  # a driver_override write of a page or more is EINVAL


def probe(bus: PciBus, bdf: str, shown: Path | str = "drivers_probe") -> None:
    """``drivers_probe``: bind the first matching loaded driver, if any.

    Raises:
        OSError: ``ENODEV`` for a function that does not exist.
    """
    t = bus.tree
    if not t.exists(bdf):
        raise kernel_error(errno.ENODEV, shown)
    d = t.dev_dir(bdf)
    with t.state() as state:
        if t.driver(d) is not None:
            return
        for drv in bus.loaded_drivers():
            if bus.matches(state, d, drv):
                bus.attach(state, d, drv)
                return


def store_bind(bus: PciBus, bdf: str, drv: str, shown: Path) -> None:
    """``drivers/<drv>/bind``: ``ENODEV`` unless ``drv`` matches, ``EBUSY`` if bound."""
    t = bus.tree
    if not t.exists(bdf):
        raise kernel_error(errno.ENODEV, shown)
    d = t.dev_dir(bdf)
    with t.state() as state:
        if not bus.matches(state, d, drv):
            raise kernel_error(errno.ENODEV, shown)
        if t.driver(d) is not None:
            raise kernel_error(errno.EBUSY, shown)
        if not bus.attach(state, d, drv):
            raise kernel_error(errno.EINVAL, shown)


def store_unbind(bus: PciBus, bdf: str, drv: str, shown: Path) -> None:
    """``drivers/<drv>/unbind``: ``ENODEV`` unless bound to ``drv``; an open VFIO device
    is ``EBUSY``."""
    t = bus.tree
    if not t.exists(bdf):
        raise kernel_error(errno.ENODEV, shown)
    d = t.dev_dir(bdf)
    with t.state() as state:
        if t.driver(d) != drv:
            raise kernel_error(errno.ENODEV, shown)
        if bdf in state["in_use"] and drv in VFIO_DRIVERS:
            # The kernel would wait for the user to close the device; say busy.
            raise kernel_error(errno.EBUSY, shown)
        bus.detach(state, d)


def store_new_id(bus: PciBus, text: str, drv: str, shown: Path) -> None:
    """``drivers/<drv>/new_id``: ``vendor device`` in hex adds a device id to ``drv``."""
    parts = text.split()
    if len(parts) < 2:
        raise kernel_error(errno.EINVAL, shown)
    try:
        device = int(parts[1], 16)
    except ValueError:
        raise kernel_error(errno.EINVAL, shown) from None
    with bus.tree.state() as state:
        state["new_ids"].setdefault(drv, []).append(device)


def store_override(bus: PciBus, d: Path, text: str, shown: Path) -> None:
    """``driver_override``: the first line, ``(null)`` when empty."""
    if len(text) >= _OVERRIDE_MAX:
        raise kernel_error(errno.EINVAL, shown)
    value = text.split("\n", 1)[0]
    bus.tree.put(d / "driver_override", (value or "(null)") + "\n", 0o644)
