"""open_device's errors on a fake host root: each says what is wrong and what to do.

The kernel's own refusals (busy, not viable, EACCES on a real node, ENOMEM) are shown on
a real kernel in tests/vm; here are the checks qathw makes before and around them.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from qathw import vfio
from qathw.errors import DeviceNotFoundError, NoIommuError, VfioError
from tests.vfio.fake_tree import FakeTree

BDF = "0000:6b:00.1"


@pytest.fixture
def tree(tmp_path: Path) -> FakeTree:
    return FakeTree(tmp_path)


def test_a_malformed_address_names_the_expected_form(tree: FakeTree) -> None:
    with pytest.raises(ValueError, match=r"write it as dddd:bb:dd.f"):
        vfio.open_device("6b:00", root=tree.root)


def test_a_missing_function_says_how_to_list_functions(tree: FakeTree) -> None:
    with pytest.raises(DeviceNotFoundError, match=r"no PCI function 0000:6b:00\.1: list the"):
        vfio.open_device(BDF, root=tree.root)


def test_a_function_without_iommu_group_says_how_to_enable_the_iommu(tree: FakeTree) -> None:
    tree.function(BDF, driver="vfio-pci")
    with pytest.raises(NoIommuError) as exc:
        vfio.open_device(BDF, root=tree.root)
    assert "has no IOMMU group" in str(exc.value)
    assert "intel_iommu=on" in str(exc.value)


def test_a_function_on_another_driver_says_how_to_bind_it(tree: FakeTree) -> None:
    tree.function(BDF, group=12, driver="4xxxvf")
    with pytest.raises(VfioError, match="is bound to 4xxxvf, not vfio-pci: bind it first"):
        vfio.open_device(BDF, root=tree.root)


def test_an_unbound_function_says_it_has_no_driver(tree: FakeTree) -> None:
    tree.function(BDF, group=12)
    with pytest.raises(VfioError, match="is not bound to a driver, not vfio-pci"):
        vfio.open_device(BDF, root=tree.root)


def test_no_container_node_says_to_load_vfio_pci(tree: FakeTree) -> None:
    tree.function(BDF, group=12, driver="vfio-pci")
    with pytest.raises(VfioError, match="VFIO is not loaded: load it with 'modprobe vfio-pci'"):
        vfio.open_device(BDF, root=tree.root)


def test_a_file_that_is_not_a_vfio_node_is_named_so(tree: FakeTree) -> None:
    tree.function(BDF, group=12, driver="vfio-pci")
    tree.vfio_nodes(12)
    with pytest.raises(VfioError, match="the file is not a VFIO node") as exc:
        vfio.open_device(BDF, root=tree.root)
    assert exc.value.errno == errno.ENOTTY


def test_a_missing_group_node_lists_the_group_and_says_to_bind(tree: FakeTree) -> None:
    tree.function(BDF, group=12, driver="vfio-pci")
    tree.function("0000:6b:00.2", group=12, driver="4xxxvf")
    tree.vfio_nodes(container=False)
    (tree.root.vfio / "vfio").write_bytes(b"")
    # The container node is a plain file: VFIO_GET_API_VERSION fails first, as it would
    # on a system whose /dev/vfio/vfio is not the kernel's.
    with pytest.raises(VfioError, match="not a VFIO node"):
        vfio.open_device(BDF, root=tree.root)
    with pytest.raises(VfioError) as exc:
        vfio.VfioGroup(12, tree.root)
    assert "group 12: 0000:6b:00.1, 0000:6b:00.2" in str(exc.value)
    assert "bind the group's functions to vfio-pci" in str(exc.value)


def test_group_members_are_listed_sorted(tree: FakeTree) -> None:
    tree.function("0000:01:02.0", group=10, driver="virtio-pci")
    tree.function("0000:01:01.0", group=10, driver="vfio-pci")
    assert vfio.group_members(10, tree.root) == ["0000:01:01.0", "0000:01:02.0"]


@pytest.fixture
def walkable_dir() -> Iterator[Path]:
    """A directory any user can walk into (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="qathw-vfio-test-"))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path)


ACCESS_CHILD = """
import json, os, sys
from qathw import vfio
from qathw.errors import QatError
from qathw.paths import HostRoot
root = HostRoot.from_sysfs_root(sys.argv[1])
os.setgroups([]); os.setgid(65534); os.setuid(65534)
try:
    vfio.VfioGroup(12, root)
except QatError as e:
    print(json.dumps({"cls": type(e).__name__, "msg": str(e), "errno": e.errno}))
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to become another user")
def test_a_node_this_user_may_not_open_shows_owner_mode_and_the_fix(
    walkable_dir: Path,
) -> None:
    tree = FakeTree(walkable_dir)
    tree.function(BDF, group=12, driver="vfio-pci")
    tree.vfio_nodes(12, mode=0o600)
    run = subprocess.run(
        [sys.executable, "-c", ACCESS_CHILD, str(tree.root.sys)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    got = json.loads(run.stdout)
    assert got["cls"] == "VfioPermissionError"
    assert got["errno"] == errno.EACCES
    assert "permission denied (owner root:root, mode -rw-------)" in got["msg"]
    assert f"chgrp qat {tree.root.vfio / '12'}" in got["msg"]


def test_holders_names_the_processes_that_have_a_node_open(tmp_path: Path) -> None:
    node = tmp_path / "node"
    node.write_bytes(b"")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; f = open(sys.argv[1]); print('ok', flush=True); "
         "sys.stdin.read()", str(node)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "ok\n"
        found = vfio.holders(node)
        assert [pid for pid, _comm in found] == [holder.pid]
        assert found[0][1].startswith("python")
    finally:
        holder.kill()
        holder.wait()
    assert vfio.holders(node) == []
