"""A host for request-layer tests: emulated endpoints in a fake sysfs tree, their device
models running, configuration files, and a private runtime directory.

The default host has two emulated 4xxx VFs: ``qat_dev0`` at 0000:00:10.0 serves
``asym;sym`` (the hardware's default ring-to-service map) and ``qat_dev1`` at 0000:00:11.0
serves ``dc``. Their files define:

* ``[SSL]``: one polled Cy instance ``SSL0`` on dev0 and one polled Dc instance ``Dc0`` on
  dev1 (``LimitDevAccess = 0``: one process gets both);
* ``[EPOLL]``: one epoll Cy instance ``EP0`` on dev0 (``IsPolled = 2``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from fakedev import endpoint_file, sysfs
from fakedev.runner import DeviceThread
from fakedev.services import ServiceHandler
from fakedev.topologies import EmulatedSpec
from qathw.paths import ENV_CONFIG_DIR, ENV_RUNTIME_DIR, ENV_SYSFS_ROOT
from qathw.transport import pfvf

GENERAL = """\
[GENERAL]
ServicesEnabled = {services}
ConfigVersion = 2
CyNumConcurrentSymRequests = {depth}
CyNumConcurrentAsymRequests = 64
DcNumConcurrentRequests = {depth}
statsGeneral = 0

[KERNEL]
NumberCyInstances = 0
NumberDcInstances = 0
"""


def section(name: str, *, cy: int = 0, dc: int = 0, polled: int = 1, processes: int = 1) -> str:
    """A user section with ``cy`` Cy and ``dc`` Dc instances named ``<name><i>``/``Dc<i>``."""
    text = (
        f"\n[{name}]\nNumProcesses = {processes}\nLimitDevAccess = 0\n"
        f"NumberCyInstances = {cy}\nNumberDcInstances = {dc}\n"
    )
    for i in range(cy):
        text += f'Cy{i}Name = "{name}{i}"\nCy{i}IsPolled = {polled}\nCy{i}CoreAffinity = 0\n'
    for i in range(dc):
        text += f'Dc{i}Name = "Dc{i}"\nDc{i}IsPolled = {polled}\nDc{i}CoreAffinity = 0\n'
    return text


CRYPTO_FILE = (
    GENERAL.format(services="asym;sym", depth=512)
    + section("SSL", cy=1)
    + section("EPOLL", cy=1, polled=2)
)
DC_FILE = GENERAL.format(services="dc", depth=512) + section("SSL", dc=1)


@dataclass
class Endpoint:
    bdf: str
    device: str
    services: str
    size: int = 8 << 20


@dataclass
class Host:
    """Paths of a test host; :meth:`env` gives the variables qathw reads."""

    root: Path
    sysfs_root: Path
    config: Path
    runtime: Path
    files: dict[str, Path] = field(default_factory=dict)  # bdf -> endpoint file
    services: dict[str, str] = field(default_factory=dict)  # bdf -> services

    def env(self) -> dict[str, str]:
        return {
            ENV_SYSFS_ROOT: str(self.sysfs_root),
            ENV_CONFIG_DIR: str(self.config),
            ENV_RUNTIME_DIR: str(self.runtime),
        }

    def ring_service_map(self, bdf: str) -> int:
        return pfvf.ring_service_map_from_names(self.services[bdf])


DEFAULT_ENDPOINTS = (
    Endpoint("0000:00:10.0", "4xxxvf", "asym;sym"),
    Endpoint("0000:00:11.0", "4xxxvf", "dc"),
)
DEFAULT_FILES = {"4xxxvf_dev0.conf": CRYPTO_FILE, "4xxxvf_dev1.conf": DC_FILE}

# A gen2 host: one emulated C62x VF (no ring-to-service map: every bank serves all).
GEN2_ENDPOINTS = (Endpoint("0000:00:10.0", "c6xxvf", "sym;asym", size=1 << 20),)
GEN2_FILES = {"c6xxvf_dev0.conf": GENERAL.format(services="cy", depth=64) + section("SSL", cy=1)}


def build(
    endpoints: tuple[Endpoint, ...] = DEFAULT_ENDPOINTS,
    files: Mapping[str, str] = DEFAULT_FILES,
) -> Host:
    """A host under ``/dev/shm`` (tmpfs: fast to build, and where ivshmem files live)."""
    root = Path(f"/dev/shm/qathw-svc-{uuid.uuid4().hex[:12]}")
    root.mkdir()
    fake = sysfs.build(root / "host", "empty")
    host = Host(root, fake.sysfs_root, root / "etc", root / "run")
    host.config.mkdir()
    for ep in endpoints:
        path = root / f"ep-{ep.bdf.replace(':', '-')}"
        endpoint_file.create(path, ep.device, size=ep.size)
        fake.add_emulated(EmulatedSpec(ep.bdf, path))
        host.files[ep.bdf] = path
        host.services[ep.bdf] = ep.services
    for name, text in files.items():
        (host.config / name).write_text(text)
    return host


def remove(host: Host) -> None:
    shutil.rmtree(host.root, ignore_errors=True)


@contextlib.contextmanager
def running(
    host: Host, handlers: Mapping[int, ServiceHandler] | None = None
) -> Iterator[dict[str, DeviceThread]]:
    """Every endpoint's device model, each in a thread of this process (``handlers``:
    service handlers instead of the engine's, for every device)."""
    with contextlib.ExitStack() as stack:
        threads = {
            bdf: stack.enter_context(
                DeviceThread(
                    path,
                    ring_service_map=host.ring_service_map(bdf),
                    handlers=None if handlers is None else dict(handlers),
                )
            )
            for bdf, path in host.files.items()
        }
        yield threads


@contextlib.contextmanager
def environment(host: Host) -> Iterator[None]:
    """The host's variables set in ``os.environ`` for the duration."""
    saved = {k: os.environ.get(k) for k in host.env()}
    os.environ.update(host.env())
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
