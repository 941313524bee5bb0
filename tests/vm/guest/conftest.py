"""Fixtures for the tests that run *inside* the guest (as root, on the guest's kernel)."""

from __future__ import annotations

import os
import subprocess

import pytest

from qathw import admin
from qathw.paths import HostRoot
from tests.vm.endpoint_file import EndpointFacts, facts_from_env
from tests.vm.guest import pcitools


@pytest.fixture(scope="session")
def facts() -> EndpointFacts:
    """The emulated endpoint the host attached, as the host described it."""
    return facts_from_env(dict(os.environ))


@pytest.fixture(scope="session")
def ivshmem_bdf(facts: EndpointFacts) -> str:
    """The function carrying the endpoint these tests check (the guest may have others)."""
    found = pcitools.find(pcitools.IVSHMEM)
    assert facts.bdf in found, f"the host attached the endpoint at {facts.bdf!r}, found {found}"
    return facts.bdf


def _bind(bdf: str, driver: str | None) -> None:
    """qathw's own bind (admin.bind, what ``qathw bind`` runs), once vfio-pci is loaded."""
    if pcitools.driver(bdf) != driver:
        subprocess.run(["modprobe", "vfio-pci"], check=True)
        admin.bind(HostRoot(), bdf, driver)


@pytest.fixture
def endpoint_on_vfio(ivshmem_bdf: str) -> str:
    """The endpoint's function, bound to vfio-pci by qathw."""
    _bind(ivshmem_bdf, "vfio-pci")
    return ivshmem_bdf


@pytest.fixture
def endpoint_unbound(ivshmem_bdf: str) -> str:
    _bind(ivshmem_bdf, None)
    return ivshmem_bdf


@pytest.fixture(scope="session")
def edu_bdf() -> str:
    """The edu device behind the PCIe-to-PCI bridge (it shares a group with virtio-rng)."""
    behind = [b for b in pcitools.find(pcitools.EDU) if not b.startswith("0000:00:")]
    assert len(behind) == 1, f"expected one edu behind the bridge, found {behind}"
    return behind[0]


@pytest.fixture(scope="session")
def rng_bdf(edu_bdf: str) -> str:
    found = [
        b
        for b in pcitools.find(pcitools.VIRTIO_RNG)
        if pcitools.group(b) == pcitools.group(edu_bdf)
    ]
    assert len(found) == 1, f"expected virtio-rng in edu's group, found {found}"
    return found[0]


@pytest.fixture
def edu_group_not_viable(edu_bdf: str, rng_bdf: str) -> str:
    """edu on vfio-pci, its group mate virtio-rng on its own driver: the group is not viable."""
    pcitools.bind(rng_bdf, "virtio-pci")
    pcitools.bind(edu_bdf, "vfio-pci")
    return edu_bdf


@pytest.fixture
def edu_on_vfio(edu_bdf: str, rng_bdf: str) -> str:
    """edu on vfio-pci and virtio-rng unbound: a viable group."""
    pcitools.bind(rng_bdf, None)
    pcitools.bind(edu_bdf, "vfio-pci")
    return edu_bdf
