"""The migratable profile's pieces that need no guest: the QEMU command line, the guest RAM
size, the initramfs manifest, the archive format and its cache, the migration settings.

The manifest tests read this host's kernel modules, busybox and interpreter; they skip
(saying what is missing) where a migratable guest could not boot either.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vm import initramfs
from vm.errors import VmError
from vm.host import PROJECT_ROOT, find_tools, missing_reason
from vm.initramfs import Item, Manifest
from vm.machine import MachineFiles, MachineSpec, guest_ram_bytes, qemu_argv
from vm.migratable import MigratableGuest, MigratableSpec, MigrationTuning

QEMU, KERNEL, INITRD = Path("/usr/bin/qemu-system-x86_64"), Path("/boot/k"), Path("/tmp/i")
needs_tools = pytest.mark.skipif(
    missing_reason(vng=False) is not None, reason=str(missing_reason(vng=False))
)


def _argv(tmp_path: Path, shared: list[Path], **kw: bool) -> list[str]:
    return qemu_argv(QEMU, KERNEL, INITRD, MachineSpec(), MachineFiles(tmp_path), shared, **kw)


def _option(argv: list[str], name: str) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == name]


@pytest.fixture
def endpoints(tmp_path: Path) -> list[Path]:
    files = [tmp_path / "a.qat", tmp_path / "b.qat"]
    for path, size in zip(files, (4 << 20, 1 << 20), strict=True):
        path.write_bytes(b"\0" * size)
    return files


# --- the command line ------------------------------------------------------------------


def test_the_machine_is_q35_without_sata_under_tcg_and_never_reboots(tmp_path: Path) -> None:
    argv = _argv(tmp_path, [])
    assert _option(argv, "-machine") == ["q35,sata=off"]
    assert _option(argv, "-accel") == ["tcg"]
    assert "-no-reboot" in argv and "-nodefaults" in argv
    assert not any(a.startswith(("-virtfs", "-fsdev", "-netdev", "-drive")) for a in argv)


def test_the_kernel_gets_the_iommu_zeroed_free_pages_and_page_table_isolation(
    tmp_path: Path,
) -> None:
    (append,) = _option(_argv(tmp_path, []), "-append")
    wanted = {"intel_iommu=on", "init_on_free=1", "pti=on", "console=ttyS0"}
    assert wanted <= set(append.split())


def test_the_iommu_comes_before_every_shared_memory_device(
    tmp_path: Path, endpoints: list[Path]
) -> None:
    devices = _option(_argv(tmp_path, endpoints), "-device")
    iommu = devices.index("intel-iommu")
    ivshmem = [i for i, d in enumerate(devices) if d.startswith("ivshmem-plain")]
    assert len(ivshmem) == 2 and iommu < min(ivshmem)


def test_each_shared_file_is_a_shared_backend_behind_a_master_ivshmem_in_slot_order(
    tmp_path: Path, endpoints: list[Path]
) -> None:
    argv = _argv(tmp_path, endpoints)
    assert _option(argv, "-object") == [
        f"memory-backend-file,id=qathwmem0,mem-path={endpoints[0]},size=4194304,share=on",
        f"memory-backend-file,id=qathwmem1,mem-path={endpoints[1]},size=1048576,share=on",
    ]
    ivshmem = [d for d in _option(argv, "-device") if d.startswith("ivshmem-plain")]
    assert ivshmem == [
        "ivshmem-plain,memdev=qathwmem0,master=on,addr=0x10",
        "ivshmem-plain,memdev=qathwmem1,master=on,addr=0x11",
    ]


def test_only_a_destination_waits_for_an_incoming_migration_and_then_stays_paused(
    tmp_path: Path,
) -> None:
    booting = _argv(tmp_path, [])
    assert "-incoming" not in booting and "-S" not in booting
    receiving = _argv(tmp_path, [], incoming=True)
    assert _option(receiving, "-incoming") == ["defer"] and "-S" in receiving


def test_qmp_agent_console_and_pidfile_live_in_the_machines_own_directory(
    tmp_path: Path,
) -> None:
    argv = _argv(tmp_path, [])
    assert _option(argv, "-qmp") == [f"unix:{tmp_path}/qmp.sock,server=on,wait=off"]
    assert _option(argv, "-pidfile") == [f"{tmp_path}/qemu.pid"]
    assert f"socket,id=qathwagent,path={tmp_path}/agent.sock,server=on,wait=off" in _option(
        argv, "-chardev"
    )
    assert f"file,id=qathwconsole,path={tmp_path}/console.log" in _option(argv, "-chardev")


# --- guest RAM -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("asked", "kib"),
    [("512M", 524280), ("512", 524280), ("1G", 1048568), ("500M", 511992), ("524280K", 524280)],
)
def test_guest_ram_never_has_a_length_qemus_fast_dirty_sync_would_take(
    asked: str, kib: int
) -> None:
    size = guest_ram_bytes(asked)
    assert size == kib * 1024
    assert size % (256 * 1024) != 0  # 64 pages: a whole word of QEMU's dirty bitmap
    assert size % 8192 == 0


@pytest.mark.parametrize("asked", ["lots", "1.5G", "", "32M"])
def test_a_guest_ram_that_is_no_size_or_too_small_is_refused(asked: str) -> None:
    with pytest.raises(VmError, match="guest memory"):
        guest_ram_bytes(asked)


# --- migration settings ----------------------------------------------------------------


def test_tuning_becomes_qmp_parameters_and_leaves_the_rest_to_qemu() -> None:
    assert MigrationTuning().qmp_parameters() == {}
    tuned = MigrationTuning(downtime_limit_ms=50, max_bandwidth=1 << 30, parameters={"x": 1})
    assert tuned.qmp_parameters() == {"x": 1, "downtime-limit": 50, "max-bandwidth": 1 << 30}


# --- bad input before anything starts ----------------------------------------------------


@needs_tools
def test_a_shared_file_whose_size_is_not_a_power_of_two_is_refused_before_qemu_starts(
    tmp_path: Path,
) -> None:
    bad = tmp_path / "bad.qat"
    bad.write_bytes(b"\0" * (3 << 20))
    with pytest.raises(VmError, match="power of two"):
        MigratableGuest(MigratableSpec(shared_memory=(bad,)), workdir=tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["bad.qat"]  # no run directory


@needs_tools
def test_a_missing_shared_file_is_refused_with_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(VmError, match="fakedev create"):
        MigratableGuest(MigratableSpec(shared_memory=(tmp_path / "none.qat",)))


# --- the initramfs manifest ------------------------------------------------------------


@pytest.fixture(scope="module")
def manifest() -> Manifest:
    reason = missing_reason(vng=False)
    if reason:
        pytest.skip(reason)
    return initramfs.collect(find_tools(vng=False))


def _files(manifest: Manifest) -> set[str]:
    return {p for p, it in manifest.items.items() if it.kind != "dir"}


def test_init_loads_the_modules_then_runs_the_persistent_agent(manifest: Manifest) -> None:
    init = manifest.items["/init"]
    assert init.mode == 0o755 and init.data is not None
    text = init.data.decode()
    assert text.startswith("#!/bin/sh\n")
    assert "mount -t devtmpfs devtmpfs /dev" in text
    assert text.index("insmod") < text.index("-m vm.agent --persistent")
    assert text.rstrip().endswith("poweroff -f")


def test_vfio_and_the_virtio_console_come_with_their_dependencies_first(
    manifest: Manifest,
) -> None:
    names = [Path(m).name for m in manifest.modules]
    for name in ("vfio-pci.ko", "vfio_iommu_type1.ko", "virtio_console.ko", "virtio_pci.ko"):
        assert name in names
    assert names.index("vfio.ko") < names.index("vfio_iommu_type1.ko")
    assert names.index("vfio-pci-core.ko") < names.index("vfio-pci.ko")
    assert names.index("irqbypass.ko") < names.index("vfio-pci-core.ko")
    assert names.index("virtio.ko") < names.index("virtio_console.ko")
    # Every module file is inside, and busybox modprobe finds vfio-pci in modules.dep.
    base = f"/lib/modules/{manifest.release}"
    for module in manifest.modules:
        assert any(p.endswith(f"{base}/{module}") for p in _files(manifest)), module
    dep = next(it for p, it in manifest.items.items() if p.endswith(f"{base}/modules.dep"))
    assert dep.data is not None and b"kernel/drivers/vfio/pci/vfio-pci.ko:" in dep.data


def test_busybox_provides_the_shell_and_module_tools(manifest: Manifest) -> None:
    tools = find_tools(vng=False)
    real_busybox = os.path.realpath(tools.busybox)
    applets = {
        os.path.basename(p): it.target
        for p, it in manifest.items.items()
        if it.kind == "symlink" and it.target == real_busybox
    }
    assert {"sh", "insmod", "modprobe", "mount", "poweroff", "cat"} <= set(applets)


def test_the_interpreter_and_the_libraries_it_links_are_inside(manifest: Manifest) -> None:
    files = _files(manifest)
    assert os.path.abspath(sys.executable) in files
    linked = subprocess.run(["ldd", os.path.realpath(sys.executable)], capture_output=True,
                            text=True).stdout  # fmt: skip
    libc = next(line.split("=>")[1].split()[0] for line in linked.splitlines() if "libc." in line)
    assert os.path.realpath(libc) in files


def test_the_standard_library_is_bytecode_only_and_without_its_tests(manifest: Manifest) -> None:
    files = _files(manifest)
    stdlib = os.path.dirname(os.__file__)
    assert f"{stdlib}/os.pyc" in files and f"{stdlib}/os.py" not in files
    assert f"{stdlib}/json/__init__.pyc" in files
    assert not any(p.startswith(f"{stdlib}/test/") for p in files)
    assert not any(p.startswith(f"{stdlib}/tkinter/") for p in files)


def test_qathws_run_time_dependencies_are_inside_and_tools_are_not(manifest: Manifest) -> None:
    tops = {
        Path(p).parts[len(Path(sys.prefix).parts) + 3]
        for p in _files(manifest)
        if p.startswith(f"{sys.prefix}/lib/")
        and len(Path(p).parts) > len(Path(sys.prefix).parts) + 3
    }
    assert {"numpy", "cryptography"} <= tops
    assert not tops & {"pytest", "_pytest", "mypy", "ruff", "pip", "hypothesis", "virtme_ng"}


def test_the_project_keeps_its_sources_beside_their_bytecode(manifest: Manifest) -> None:
    files = _files(manifest)
    tag = sys.implementation.cache_tag
    for module in ("qathw/__init__", "vm/agent", "demo/vfio_seed"):
        assert f"{PROJECT_ROOT}/{module}.py" in files
        folder, name = os.path.split(f"{PROJECT_ROOT}/{module}")
        assert f"{folder}/__pycache__/{name}.{tag}.pyc" in files
    assert not any(p.startswith((f"{PROJECT_ROOT}/tests/", f"{PROJECT_ROOT}/fakedev/"))
                   for p in files)  # fmt: skip


def test_the_qathw_command_is_inside(manifest: Manifest) -> None:
    assert f"{os.path.dirname(os.path.abspath(sys.executable))}/qathw" in _files(manifest)


# --- the archive and its cache ----------------------------------------------------------


class _Vanishing(Manifest):
    """A manifest one of whose files disappears once its key is taken."""

    def key(self) -> str:
        key = super().key()
        source = self.items["/opt/blob"].source
        assert source is not None
        os.unlink(source)
        return key


def _small(tmp_path: Path, kind: type[Manifest] = Manifest) -> Manifest:
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    (src / "hello.py").write_text("GREETING = 'hello from the archive'\n")
    (src / "blob").write_bytes(b"\x00\x01" * 1000)
    m = kind(release="r", python="/p")
    m.add(Item("/opt/blob", "file", source=str(src / "blob"), mode=0o600, mtime=1234))
    m.add(Item("/opt/link", "symlink", target="blob"))
    m.add(Item("/opt/note", "file", data=b"generated\n", mode=0o644))
    m.add(Item("/opt/py/hello.pyc", "file", source=str(src / "hello.py"), compile=True))
    return m


@pytest.fixture
def small(tmp_path: Path) -> Manifest:
    return _small(tmp_path)


def _cpio() -> list[str]:
    if shutil.which("cpio"):
        return ["cpio"]
    if shutil.which("busybox"):
        return ["busybox", "cpio"]
    pytest.skip("no cpio here to read the archive back (apt install cpio)")


def test_the_archive_is_a_newc_cpio_that_busybox_unpacks_as_written(
    small: Manifest, tmp_path: Path
) -> None:
    archive = tmp_path / "a.cpio"
    with open(archive, "wb") as out:
        size = initramfs.write_archive(small, out)
    assert size == archive.stat().st_size and size % 512 == 0
    root = tmp_path / "root"
    root.mkdir()
    subprocess.run([*_cpio(), "-i", "-d", "-m", "-F", str(archive)], cwd=root, check=True,
                   capture_output=True)  # fmt: skip
    assert (root / "opt/blob").read_bytes() == b"\x00\x01" * 1000
    assert (root / "opt/blob").stat().st_mode & 0o777 == 0o600
    assert (root / "opt/blob").stat().st_mtime == 1234
    assert os.readlink(root / "opt/link") == "blob"
    assert (root / "opt/note").read_bytes() == b"generated\n"
    run = subprocess.run([sys.executable, "-c", "import hello; print(hello.GREETING)"],
                         cwd=root / "opt/py", capture_output=True, text=True)  # fmt: skip
    assert run.stdout == "hello from the archive\n", run.stderr


def test_a_second_build_of_the_same_inputs_comes_from_the_cache(
    small: Manifest, tmp_path: Path
) -> None:
    first = initramfs.build(small, tmp_path / "cache")
    second = initramfs.build(small, tmp_path / "cache")
    assert (first.cached, second.cached) == (False, True)
    assert second.path == first.path and second.size == first.size
    leftovers = [p.name for p in (tmp_path / "cache").iterdir() if p.name.startswith(".initramfs-")]
    assert leftovers == []


def test_changing_an_input_file_changes_the_key(small: Manifest, tmp_path: Path) -> None:
    before = small.key()
    assert small.key() == before
    blob = tmp_path / "src" / "blob"
    blob.write_bytes(b"changed")
    assert small.key() != before


def test_a_failed_build_leaves_nothing_in_the_cache(tmp_path: Path) -> None:
    vanishing = _small(tmp_path, _Vanishing)  # a source goes between planning and writing
    with pytest.raises(FileNotFoundError):
        initramfs.build(vanishing, tmp_path / "cache")
    assert [p.name for p in (tmp_path / "cache").iterdir() if p.name != ".lock"] == []


def test_a_build_removes_archives_unused_for_a_while_beyond_the_newest(
    small: Manifest, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    old = time.time() - initramfs.CACHE_KEEP_MINUTES * 60 - 60
    names = [f"initramfs-old{n}" for n in range(initramfs.CACHE_KEEP + 2)]
    for n, name in enumerate(names):
        for suffix in (".cpio", ".json"):
            (cache / f"{name}{suffix}").write_text("{}")
            os.utime(cache / f"{name}{suffix}", (old + n, old + n))
    built = initramfs.build(small, cache)
    kept = sorted(p.name for p in cache.glob("*.cpio"))
    newest_old = names[-(initramfs.CACHE_KEEP - 1) :]  # the new one counts among the newest
    assert kept == sorted([built.path.name, *(f"{n}.cpio" for n in newest_old)])
    assert sorted(p.name for p in cache.glob("*.json")) == sorted(
        [built.path.with_suffix(".json").name, *(f"{n}.json" for n in newest_old)]
    )


def test_a_cache_directory_of_another_user_is_refused(small: Manifest, tmp_path: Path) -> None:
    if os.getuid() != 0:
        pytest.skip("needs root to make a directory owned by another user")
    other = tmp_path / "theirs"
    other.mkdir(mode=0o700)
    os.chown(other, 65534, 65534)
    with pytest.raises(VmError, match="not a directory of this user"):
        initramfs.build(small, other)


# --- the command line tool ----------------------------------------------------------------


@needs_tools
def test_the_initramfs_command_builds_the_archive_and_shows_what_is_inside() -> None:
    run = subprocess.run([sys.executable, "-m", "vm", "initramfs"], cwd=PROJECT_ROOT,
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert run.returncode == 0, run.stderr
    path, summary, *parts = run.stdout.splitlines()
    assert Path(path).is_file() and path.endswith(".cpio")
    assert f"{Path(path).stat().st_size / 1e6:.1f} MB uncompressed" in summary
    assert {p.split()[0] for p in parts} >= {"stdlib", "site-packages", "project", "modules"}
