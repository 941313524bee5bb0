"""Fake sysfs (and debugfs) trees with the kernel's write rules.

:func:`build` lays out, under a directory that plays ``/``, what Linux shows for a
:class:`~fakedev.topologies.Topology`: ``sys/devices/pci<dom>:<bus>/<bdf>/`` with the
PCI attributes, ``sys/bus/pci/{devices,drivers}`` links, SR-IOV ``virtfnN``/``physfn``
links, the QAT driver's ``qat/`` group, IOMMU groups and ``dev/vfio`` nodes, debugfs
``qat_<class>_<bdf>/``, hugepage counters and firmware files.

The files are plain files, so reading them needs nothing special. Writing is where the
kernel refuses things, and a plain file cannot: :class:`FakeKernel` serves qathw's
sysfs seam (:class:`qathw.sysfsio.SysfsIO`) and applies each write with the kernel's
semantics and errnos (docs/hardware.md#sysfs-abi). The modules, by job:

* :mod:`~fakedev.sysfs.tree`: the files, and the kernel state no file holds (in
  ``<prefix>/.fakedev/kernel.json``, so a second process sees the same host);
* :mod:`~fakedev.sysfs.pcifiles`: what a function's files hold (config space, BARs);
* :mod:`~fakedev.sysfs.bus`: the PCI core — functions, driver binding, SR-IOV VFs;
* :mod:`~fakedev.sysfs.binding`: ``drivers_probe``, ``bind``/``unbind``, ``new_id``,
  ``driver_override``, with vfio-pci's gen2 denylist and its need for an IOMMU group;
* :mod:`~fakedev.sysfs.sriov`: ``sriov_numvfs``, all or nothing;
* :mod:`~fakedev.sysfs.qat_pf`: the QAT PF driver and ``qat/state``,
  ``qat/cfg_services``, ``qat/pm_idle_enabled``, ``qat/auto_reset``, ``qat/rp2srv``;
* :mod:`~fakedev.sysfs.services`: the ``cfg_services`` grammar of each kernel version
  (:mod:`~fakedev.sysfs.versions` says when the ABI changed);
* :mod:`~fakedev.sysfs.telemetry`: debugfs telemetry ``control`` and data files;
* :mod:`~fakedev.sysfs.kernel`: :class:`FakeKernel`, which routes each read and write;
* :mod:`~fakedev.sysfs.builder`: :func:`build` and :class:`FakeHost`.

Any attribute without a write bit is ``EACCES``; without privilege, ``config`` reads
64 bytes.

Run ``python -m fakedev.sysfs DIR --topology NAME`` to build a tree for trying the CLI.
"""

from fakedev.sysfs.builder import FakeHost, build, family_of
from fakedev.sysfs.cli import main
from fakedev.sysfs.kernel import FakeKernel
from fakedev.sysfs.services import ring_services, services_accepted
from fakedev.topologies import NAMED, EmulatedSpec, PfSpec, Topology

__all__ = [
    "NAMED",
    "EmulatedSpec",
    "FakeHost",
    "FakeKernel",
    "PfSpec",
    "Topology",
    "build",
    "family_of",
    "main",
    "ring_services",
    "services_accepted",
]
