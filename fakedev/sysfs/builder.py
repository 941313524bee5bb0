"""Build a fake host tree from a :class:`~fakedev.topologies.Topology`.

:func:`build` lays out, under a directory that plays ``/``, what Linux shows for the
topology: host-wide files (``drivers_probe``, IOMMU groups, debugfs, hugepage counters,
module parameters, firmware), then each PF probed by its driver with its services and
VFs as the topology asks, then each emulated endpoint as an ivshmem function.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from fakedev.sysfs import pcifiles
from fakedev.sysfs.kernel import FakeKernel
from fakedev.topologies import AUTO, NAMED, EmulatedSpec, PfSpec, Topology
from qathw import ids
from qathw.paths import HostRoot
from qathw.pci_regs import PciAddress

_IVSHMEM_REVISION = 1
_IVSHMEM_SUBSYS = (0x1AF4, 0x1100)  # QEMU's subsystem ids
_IVSHMEM_REGS_SIZE = 0x100  # BAR0, ivshmem's registers


def family_of(product: str) -> ids.Family:
    """The family whose product (or class) name is ``product``, case-insensitive.

    Raises:
        ValueError: no such family (the message lists the known ones).
    """
    for fam in ids.FAMILIES:
        if product.lower() in (fam.product.lower(), fam.name.lower()):
            return fam
    known = ", ".join(sorted({f.product for f in ids.FAMILIES}))
    raise ValueError(f"unknown QAT product {product!r}; known: {known}")


@dataclass
class FakeHost:
    """A built fake tree and its kernel.

    Attributes:
        prefix: the directory that plays ``/``.
        host: the :class:`~qathw.paths.HostRoot` for qathw.
        kernel: the :class:`FakeKernel` to install with :func:`qathw.sysfsio.using`.
    """

    prefix: Path
    host: HostRoot
    kernel: FakeKernel

    @property
    def sysfs_root(self) -> Path:
        """The directory to pass as ``--sysfs-root``."""
        return self.host.sys

    def add_emulated(self, spec: EmulatedSpec) -> None:
        """Present an emulated endpoint's file as an ivshmem function."""
        _add_emulated(self.kernel, spec)

    def unplug(self, bdf: str) -> None:
        """Remove a function as hot-unplug does."""
        self.kernel.remove_function(bdf)

    def set_in_use(self, bdf: str, in_use: bool = True) -> None:
        """Mark a PF as used by kernel crypto users, or a VF as opened by a process."""
        with self.kernel.tree.state() as state:
            marks = set(state["in_use"])
            (marks.add if in_use else marks.discard)(bdf)
            state["in_use"] = sorted(marks)

    def set_in_reset(self, bdf: str, in_reset: bool = True) -> None:
        """Mark a PF as being reset (every state change gets EBUSY)."""
        with self.kernel.tree.state() as state:
            marks = set(state["in_reset"])
            (marks.add if in_reset else marks.discard)(bdf)
            state["in_reset"] = sorted(marks)

    @contextmanager
    def restart(self, pf_bdf: str) -> Iterator[None]:
        """A PF restart as the QAT driver does it: inside the ``with``, SR-IOV is disabled
        and the PF's VFs are gone; after it they are back, bound as before
        (``adf_dev_restart`` -> ``adf_disable_sriov``, then ``adf_reenable_sriov``).

        Raises:
            FileNotFoundError: no such PF, or it has no VFs.
        """
        d = self.kernel.tree.dev_dir(pf_bdf)
        kind = self.kernel.tree.kind(d)
        if kind is None or not (d / "sriov_numvfs").exists() or not self.kernel.bus.virtfns(d):
            raise FileNotFoundError(f"{pf_bdf} is not a PF with VFs in the fake tree")
        with self.kernel.tree.state() as state:
            self.kernel.bus.disable_vfs(state, d)
        try:
            yield
        finally:
            with self.kernel.tree.state() as state:
                self.kernel.bus.enable_vfs(state, d, kind)

    def remove_firmware(self) -> None:
        """Delete every firmware file (a PF coming up then fails with EFAULT)."""
        shutil.rmtree(self.prefix / "lib" / "firmware", ignore_errors=True)


class FunctionPresence:
    """An emulated function that leaves a fake tree and comes back, as a VF does across
    its PF's restart (:class:`fakedev.device.Presence`, given to the device model).

    Args:
        prefix: the fake tree (the directory that plays ``/``).
        bdf: the ivshmem function presenting the endpoint.
    """

    def __init__(self, prefix: str | os.PathLike[str], bdf: str) -> None:
        self._prefix = Path(prefix)
        self.bdf = bdf
        self._spec: EmulatedSpec | None = None

    def remove(self) -> None:
        """The function disappears from the tree (remembered for :meth:`restore`)."""
        kernel = FakeKernel(self._prefix)
        d = kernel.tree.dev_dir(self.bdf)
        if not d.is_dir():
            return
        self._spec = EmulatedSpec(
            self.bdf,
            Path(os.readlink(d / "resource2")),
            driver=kernel.tree.driver(d),
            numa_node=int(kernel.tree.text(d / "numa_node")),
        )
        kernel.remove_function(self.bdf)

    def restore(self) -> None:
        """The function comes back, as it was presented."""
        if self._spec is not None:
            _add_emulated(FakeKernel(self._prefix), self._spec)
            self._spec = None


def _add_pf(kernel: FakeKernel, spec: PfSpec) -> None:
    tree, bus, qat = kernel.tree, kernel.bus, kernel.qat
    fam = family_of(spec.product)
    kind = ids.FunctionKind(fam, False)
    revision = spec.revision if spec.revision is not None else fam.traits.pci_revision
    offset = fam.traits.vf_offset  # VF routing, by generation
    bars = [(b.index, b.size, b.flags) for b in pcifiles.PF_BARS]
    total = fam.max_vfs or 0
    bars += (
        [(i, size * total, pcifiles.MEM64_PREF) for i, size in pcifiles.IOV_BARS] if total else []
    )
    d = bus.create_function(
        spec.bdf,
        ids.INTEL_VENDOR_ID,
        fam.pf_id,
        class_code=pcifiles.QAT_CLASS,
        revision=revision,
        subsys=(ids.INTEL_VENDOR_ID, 0),
        numa_node=spec.numa_node,
        bars=bars,
        sriov_total=total,
        sriov_offset=offset,
        vf_device=fam.vf_id,
    )
    vf_default = fam.vf_name if spec.vf_driver == AUTO else spec.vf_driver
    with tree.state() as state:
        per_vf: dict[str, str | None] = {"*": vf_default}
        per_vf.update({str(k): v for k, v in spec.vf_drivers.items()})
        state["vf_driver"][d.name] = per_vf
    driver = fam.pf_driver if spec.driver == AUTO else spec.driver
    if driver is None:
        return
    bus.load_driver(driver)
    for drv in {v for v in per_vf.values() if v}:
        bus.load_driver(drv)
    with tree.state() as state:
        if not bus.attach(state, d, driver):
            return
    q = d / "qat"
    if spec.services is not None and q.exists():
        with tree.state() as state:
            qat.stop(state, d, kind)
        kernel.write(q / "cfg_services", spec.services.encode())
        with tree.state() as state:
            qat.start(state, d, kind)
    if spec.num_vfs:
        kernel.write(d / "sriov_numvfs", f"{spec.num_vfs}\n".encode())
    if spec.state == "down" and q.exists():
        # The mid-reset picture: state reads down while the VFs still exist.
        tree.put(q / "state", "down\n", 0o644)


def _add_emulated(kernel: FakeKernel, spec: EmulatedSpec) -> None:
    path = Path(spec.path).absolute()
    size = path.stat().st_size
    d = kernel.bus.create_function(
        spec.bdf,
        ids.IVSHMEM_VENDOR_ID,
        ids.IVSHMEM_DEVICE_ID,
        class_code=pcifiles.IVSHMEM_CLASS,
        revision=_IVSHMEM_REVISION,
        subsys=_IVSHMEM_SUBSYS,
        numa_node=spec.numa_node,
        bars=[(0, _IVSHMEM_REGS_SIZE, pcifiles.MEM32), (2, size, pcifiles.MEM64_PREF)],
        pcie=False,
    )
    # BAR2 is the endpoint's file itself, as ivshmem's memory backend is.
    (d / "resource2").unlink(missing_ok=True)
    os.symlink(path, d / "resource2")
    if spec.driver is not None:
        kernel.bus.load_driver(spec.driver)
        with kernel.tree.state() as state:
            kernel.bus.attach(state, d, spec.driver)


def _write_host_files(kernel: FakeKernel, topo: Topology) -> None:
    put = kernel.tree.put
    p = kernel.prefix
    put(p / "sys" / "bus" / "pci" / "drivers_probe", "", 0o200)
    put(p / "sys" / "bus" / "pci" / "drivers_autoprobe", "1\n", 0o644)
    (p / "sys" / "kernel" / "iommu_groups").mkdir(parents=True, exist_ok=True)
    debug = p / "sys" / "kernel" / "debug"
    debug.mkdir(parents=True, exist_ok=True)
    os.chmod(debug, 0o700)
    for size, count in (("2048kB", topo.hugepages_2m), ("1048576kB", 0)):
        hp = p / "sys" / "kernel" / "mm" / "hugepages" / f"hugepages-{size}"
        for name in ("nr_hugepages", "free_hugepages"):
            put(hp / name, f"{count}\n", 0o644)
    put(p / "sys" / "module" / "vfio_pci" / "parameters" / "disable_denylist", "N\n")
    put(
        p / "sys" / "module" / "vfio" / "parameters" / "enable_unsafe_noiommu_mode",
        "Y\n" if topo.iommu == "noiommu" else "N\n",
        0o644,
    )
    if topo.firmware:
        for fam in ids.FAMILIES:
            for name in fam.firmware:
                put(p / "lib" / "firmware" / name, b"fake firmware\n", 0o644)
    (p / "dev").mkdir(exist_ok=True)
    (p / "run").mkdir(exist_ok=True)


def build(prefix: str | os.PathLike[str], topology: Topology | str) -> FakeHost:
    """Build a fake host tree under ``prefix``.

    Args:
        prefix: an empty (or missing) directory that will play ``/``.
        topology: a :class:`Topology` or the name of one in :data:`NAMED`.

    Returns:
        The host: ``host.sysfs_root`` for ``--sysfs-root``, ``host.kernel`` for
        :func:`qathw.sysfsio.using`.

    Raises:
        ValueError: unknown topology or product, a bad PCI address, or ``prefix`` is
            not empty.
    """
    if isinstance(topology, str):
        if topology not in NAMED:
            raise ValueError(f"unknown topology {topology!r}; known: {', '.join(sorted(NAMED))}")
        topology = NAMED[topology]
    root = Path(prefix).absolute()
    if root.exists() and any(root.iterdir()):
        raise ValueError(f"{root} is not empty; build a fake tree in an empty directory")
    root.mkdir(parents=True, exist_ok=True)
    kernel = FakeKernel(root)
    with kernel.tree.state() as state:
        state["kernel"] = list(topology.kernel)
        state["iommu"] = topology.iommu
    _write_host_files(kernel, topology)
    if topology.iommu != "off":
        kernel.bus.load_driver("vfio-pci")
    for drv in topology.loaded_drivers:
        kernel.bus.load_driver(drv)
    for pf in sorted(topology.pfs, key=lambda s: PciAddress.parse(s.bdf)):
        _add_pf(kernel, pf)
    for em in topology.emulated:
        _add_emulated(kernel, em)
    return FakeHost(root, HostRoot(root), kernel)
