"""The migratable guest's initramfs: the whole guest userland, built from host files.

A virtme-ng guest reads the host's root over 9p, which blocks migration; this guest
carries everything in its initramfs instead: a static busybox, the interpreter that runs
this virtual env and the shared libraries ``ldd`` reports for it and every extension
module, the standard library (trimmed), the distributions qathw needs at run time (its
``Requires-Dist``, followed transitively, without extras), the project packages
(``qathw``, ``vm``, ``demo``), the kernel modules the guest loads (``virtio_pci``,
``virtio_console``, ``vfio-pci``, ``vfio_iommu_type1``, with what ``modules.dep`` says
they need), and an ``/init`` that mounts the kernel file systems, loads those modules and
runs the guest agent (``python -m vm.agent --persistent``).

Every host path keeps its host name in the guest (symlinks such as ``/lib -> usr/lib``
too), so the guest's ``sys.executable``, ``sys.prefix`` and project root are the host's
and a command written for one guest profile runs in the other.

The archive lives in guest RAM and is transferred on every migration, so it is lean:
the interpreter's own shared objects and the system libraries are stripped when
``strip`` is installed (wheels' are left alone: auditwheel-patched objects do not
survive it), the standard library and the distributions ship as bytecode only (``.pyc``
in place of ``.py``; the project keeps its sources for readable tracebacks, with
bytecode beside them), and tests, headers, type stubs and tools (pytest, mypy, ruff,
pip) stay out.

Builds are cached under ``$XDG_CACHE_HOME/qathw-vm`` (``/var/tmp/qathw-vm-<uid>`` without
it), keyed by a hash of every input (path, size, mtime, mode, the generated files), made
atomically (a temporary file renamed into place, under a lock), so concurrent builders
share one result and a reader never sees half an archive. ``python -m vm initramfs``
builds it and shows what is inside.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.metadata
import importlib.util
import json
import marshal
import os
import re
import shlex
import shutil
import stat
import struct
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from vm.errors import VmError, VmUnavailableError
from vm.host import PROJECT_ROOT, HostTools
from vm.protocol import PORT_NAME

FORMAT = 1  # bump when the archive's layout changes in a way the inputs do not show
PROJECT_PACKAGES = ("qathw", "vm", "demo")
ROOT_DISTRIBUTION = "qathw"
MODULES = ("virtio_pci", "virtio_console", "vfio_iommu_type1", "vfio-pci")
# About 100 MB each, one per state of the project's files, and about 3 s to rebuild: keep
# few. A guest holds a link to its own, so pruning never takes one from under it.
CACHE_KEEP = 2  # archives kept whatever their age: the most recently used
CACHE_KEEP_MINUTES = 10.0  # others are removed by the next build once unused this long

# Standard-library top-level names the guest never imports (tests, GUI, build tools).
STDLIB_SKIP = frozenset({
    "test", "idlelib", "tkinter", "turtledemo", "turtle.py", "ensurepip", "lib2to3",
    "pydoc_data", "distutils", "site-packages", "dist-packages", "venv", "msilib",
    "sqlite3", "dbm", "curses", "config", "unittest", "xmlrpc", "pydoc.py", "doctest.py",
    "mailbox.py", "imaplib.py", "nntplib.py", "smtplib.py", "ftplib.py", "poplib.py",
    "tabnanny.py", "pdb.py", "cProfile.py", "profile.py", "trace.py", "timeit.py",
})  # fmt: skip
# Extension modules of lib-dynload the guest never loads (prefix of the file name).
DYNLOAD_SKIP = (
    "_test", "_ctypes_test", "_xxtestfuzz", "_xxsubinterpreters", "xxlimited", "_tkinter",
    "_curses", "_sqlite3", "_dbm", "_gdbm", "audioop", "ossaudiodev", "nis", "spwd",
    "readline", "_lsprof", "_codecs_", "_crypt", "_ssl",
)  # fmt: skip
# Inside distributions: directories and file kinds nothing imports at run time.
PACKAGE_SKIP_DIRS = frozenset({
    "tests", "test", "testing", "__pycache__", "include", "f2py", "distutils", "_pyinstaller",
    "_examples", "doc", "docs",
})  # fmt: skip
PACKAGE_SKIP_SUFFIXES = (
    ".pyi", ".pxd", ".pyx", ".h", ".c", ".cpp", ".f", ".f90", ".a", ".lib", ".typed",
    ".txt", ".md", ".rst", ".toml", ".cfg", ".in", ".sh", ".bat", ".exe", ".dll",
)  # fmt: skip
PACKAGE_SKIP_FILES = (
    "_simd.",
    "_multiarray_tests.",
    "_umath_tests.",
    "_rational_tests.",
    "_struct_ufunc_tests.",
    "_operand_flag_tests.",
)  # numpy's test modules
DIST_INFO_KEEP = frozenset({"METADATA", "entry_points.txt", "top_level.txt"})


# --- the manifest ------------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    """One entry of the archive.

    Attributes:
        path: where it is in the guest (absolute).
        kind: ``file``, ``dir`` or ``symlink``.
        part: which part of the guest it belongs to (for the size report).
        source: the host file whose bytes it carries (``file``).
        data: or these bytes (a generated ``file``).
        target: the link's target (``symlink``).
        compile: ``source`` is Python to compile; the item is its bytecode.
        strip: ``source`` is an ELF object to strip of symbols first.
        mode: permission bits.
        mtime: seconds (bytecode headers check sources against it).
    """

    path: str
    kind: str
    part: str = ""
    source: str | None = None
    data: bytes | None = None
    target: str | None = None
    compile: bool = False
    strip: bool = False
    mode: int = 0o755
    mtime: int = 0


@dataclass
class Manifest:
    """Everything the archive will hold, and what the guest needs to know about it.

    Attributes:
        release: the kernel release whose modules are inside.
        python: the interpreter the agent runs (this virtual env's, at its host path).
        modules: the kernel modules ``/init`` loads, in load order (guest paths).
        items: every entry, by guest path.
    """

    release: str
    python: str
    modules: list[str] = field(default_factory=list)
    items: dict[str, Item] = field(default_factory=dict)

    def add(self, item: Item) -> None:
        self._parents(item.path)
        old = self.items.get(item.path)
        if old is not None and old.kind == "dir" and item.kind == "dir":
            return
        self.items[item.path] = item

    def _parents(self, path: str) -> None:
        parent = os.path.dirname(path)
        while parent not in ("/", "") and parent not in self.items:
            self.items[parent] = Item(parent, "dir", mode=0o755)
            parent = os.path.dirname(parent)

    def key(self) -> str:
        """A hash of every input: paths, modes, sizes and mtimes of sources, generated bytes."""
        h = hashlib.sha256(f"qathw-initramfs {FORMAT} {sys.version}\n".encode())
        for path in sorted(self.items):
            it = self.items[path]
            line = [path, it.kind, oct(it.mode), str(it.mtime), it.target or "",
                    str(it.compile), str(it.strip)]  # fmt: skip
            if it.source is not None:
                st = os.stat(it.source)
                line += [it.source, str(st.st_size), str(st.st_mtime_ns)]
            if it.data is not None:
                line.append(hashlib.sha256(it.data).hexdigest())
            h.update("\0".join(line).encode() + b"\n")
        h.update(f"strip={_strip_tool()}\n".encode())
        return h.hexdigest()

    def parts(self) -> dict[str, int]:
        """Bytes of the host files per part (before compiling and stripping)."""
        sizes: dict[str, int] = {}
        for it in self.items.values():
            if it.kind != "file":
                continue
            n = os.stat(it.source).st_size if it.source is not None else len(it.data or b"")
            sizes[it.part] = sizes.get(it.part, 0) + n
        return sizes


class _Collector:
    """Adds host paths to a manifest under their host names, symlinks included."""

    def __init__(self, manifest: Manifest) -> None:
        self.m = manifest

    def resolve_dirs(self, path: str, part: str) -> str:
        """``path`` with each symlinked ancestor replaced by its target (the link recorded)."""
        parts = Path(path).parts[1:]
        cur = "/"
        for i, name in enumerate(parts[:-1]):
            nxt = os.path.join(cur, name)
            if os.path.islink(nxt):
                target = os.readlink(nxt)
                self.m.add(Item(nxt, "symlink", part, target=target, mode=0o777))
                rest = os.path.join(*parts[i + 1 :])
                return self.resolve_dirs(os.path.normpath(os.path.join(cur, target, rest)), part)
            cur = nxt
        return os.path.join(cur, parts[-1]) if parts else "/"

    def file(self, path: str, part: str, **kw: Any) -> str:
        """Add the host file ``path`` (following and recording symlinks); its real path."""
        real = self.resolve_dirs(os.path.abspath(path), part)
        seen = 0
        while os.path.islink(real):
            target = os.readlink(real)
            self.m.add(Item(real, "symlink", part, target=target, mode=0o777))
            real = self.resolve_dirs(
                os.path.normpath(os.path.join(os.path.dirname(real), target)), part
            )
            seen += 1
            if seen > 40:
                raise VmError(f"{path}: too many levels of symbolic links")
        st = os.stat(real)
        self.m.add(Item(real, "file", part, source=real, mode=stat.S_IMODE(st.st_mode),
                        mtime=int(st.st_mtime), **kw))  # fmt: skip
        return real

    def bytecode(self, source: str, part: str, *, keep_source: bool) -> None:
        """Add Python ``source`` as bytecode: beside its source, or in its place."""
        real = self.resolve_dirs(os.path.abspath(source), part)
        st = os.stat(real)
        folder, name = os.path.split(real)
        stem = name[:-3]
        if keep_source:
            self.file(real, part)
            tag = sys.implementation.cache_tag
            pyc = os.path.join(folder, "__pycache__", f"{stem}.{tag}.pyc")
        else:
            pyc = os.path.join(folder, f"{stem}.pyc")
        self.m.add(Item(pyc, "file", part, source=real, compile=True, mode=0o644,
                        mtime=int(st.st_mtime)))  # fmt: skip

    def data(self, path: str, content: bytes, part: str, mode: int = 0o644) -> None:
        self.m.add(Item(path, "file", part, data=content, mode=mode))

    def symlink(self, path: str, target: str, part: str) -> None:
        self.m.add(Item(path, "symlink", part, target=target, mode=0o777))

    def dir(self, path: str, mode: int = 0o755) -> None:
        self.m.add(Item(path, "dir", mode=mode))


def _is_elf(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def _strip_tool() -> str | None:
    return shutil.which("strip")


def _ldd(paths: Iterable[str]) -> set[str]:
    """The shared libraries ``ldd`` resolves for ``paths`` (absolute paths)."""
    paths = sorted(set(paths))
    if not paths:
        return set()
    ldd = shutil.which("ldd")
    if ldd is None:
        raise VmUnavailableError("ldd is missing (package libc-bin): the initramfs needs it")
    found: set[str] = set()
    for i in range(0, len(paths), 200):
        run = subprocess.run([ldd, *paths[i : i + 200]], capture_output=True, text=True)
        for line in run.stdout.splitlines():
            if "not found" in line:
                lib = line.split("=>")[0].strip()
                raise VmError(f"ldd: {lib} is not found for a file the guest needs: {line}")
            m = re.search(r"(?:=>\s*)?(/\S+)\s+\(0x", line)
            if m:
                found.add(m.group(1))
    return found


def _requirement_names(dist: importlib.metadata.Distribution) -> list[str]:
    """Names of the run-time requirements of ``dist`` whose markers hold here (no extras)."""
    out = []
    for req in dist.requires or []:
        spec, _, marker = req.partition(";")
        if "extra" in marker:
            continue
        if marker.strip() and not _marker_holds(marker.strip()):
            continue
        name = re.split(r"[\s<>=!~\[(;@]", spec.strip(), maxsplit=1)[0]
        out.append(name)
    return out


def _marker_holds(marker: str) -> bool:
    try:
        from packaging.markers import Marker
    except ImportError:  # without packaging, include it: too much beats an ImportError
        return True
    return bool(Marker(marker).evaluate())


def runtime_distributions(root: str = ROOT_DISTRIBUTION) -> list[importlib.metadata.Distribution]:
    """``root``'s run-time requirements, transitively (installed ones; ``root`` itself not).

    Raises:
        VmError: ``root`` is not installed in this environment.
    """
    try:
        start = importlib.metadata.distribution(root)
    except importlib.metadata.PackageNotFoundError:
        raise VmError(
            f"{root} is not installed in {sys.prefix}: run 'pip install -e .' in the checkout"
        ) from None
    seen: dict[str, importlib.metadata.Distribution] = {}
    todo = _requirement_names(start)
    while todo:
        name = todo.pop()
        norm = re.sub(r"[-_.]+", "-", name).lower()
        if norm in seen:
            continue
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue  # a requirement for another platform
        seen[norm] = dist
        todo += _requirement_names(dist)
    return [seen[k] for k in sorted(seen)]


def _scripts(name: str, bin_dir: str) -> list[str]:
    """The commands distribution ``name`` installed into ``bin_dir`` (its RECORD says)."""
    try:
        files = importlib.metadata.distribution(name).files or []
    except importlib.metadata.PackageNotFoundError:
        return []
    site = sysconfig.get_paths()["purelib"]
    found = []
    for f in files:
        path = os.path.normpath(os.path.join(site, str(f)))
        if os.path.dirname(path) == os.path.normpath(bin_dir) and os.path.isfile(path):
            found.append(path)
    return found


def _skip_package_file(rel: str) -> bool:
    parts = rel.split("/")
    if any(p in PACKAGE_SKIP_DIRS for p in parts[:-1]):
        return True
    name = parts[-1]
    if parts[0].endswith(".dist-info"):
        return name not in DIST_INFO_KEEP
    return (
        name.endswith(PACKAGE_SKIP_SUFFIXES)
        or name.endswith(".pyc")
        or name.startswith(PACKAGE_SKIP_FILES)
    )


def _add_python_tree(
    col: _Collector, files: Iterable[str], part: str, keep_source: bool
) -> list[str]:
    """Add files; ``.py`` as bytecode. The ELF objects among them (for ldd)."""
    elves = []
    for path in files:
        if path.endswith(".py"):
            col.bytecode(path, part, keep_source=keep_source)
        elif _is_elf(path):
            # Not stripped: wheels' objects are often patched by auditwheel (patchelf), and
            # strip turns those into files the loader refuses ("not page-aligned").
            elves.append(col.file(path, part))
        else:
            col.file(path, part)
    return elves


def _walk(top: str, skip_dirs: frozenset[str], skip_file: Any = None) -> Iterator[str]:
    for root, dirs, files in os.walk(top):
        dirs[:] = sorted(d for d in dirs if d not in skip_dirs and d != "__pycache__")
        for name in sorted(files):
            path = os.path.join(root, name)
            if skip_file is not None and skip_file(path):
                continue
            yield path


def _dynload_dir() -> str:
    found = sysconfig.get_config_var("DESTSHARED")
    if isinstance(found, str) and os.path.isdir(found):
        return found
    for entry in sys.path:
        if entry.endswith("lib-dynload") and os.path.isdir(entry):
            return entry
    raise VmError("cannot find this interpreter's lib-dynload directory")


def _module_closure(release: str, names: Iterable[str]) -> list[tuple[str, list[str]]]:
    """Module files (relative to ``/lib/modules/<release>``) in load order, from modules.dep,
    each with what it depends on.

    Raises:
        VmUnavailableError: a module is neither a module nor built in.
    """
    base = Path("/lib/modules") / release
    deps: dict[str, list[str]] = {}
    by_name: dict[str, str] = {}
    for line in (base / "modules.dep").read_text().splitlines():
        mod, _, rest = line.partition(":")
        deps[mod] = rest.split()
        by_name[_mod_name(mod)] = mod
    builtin = set()
    with contextlib.suppress(OSError):
        builtin = {_mod_name(m) for m in (base / "modules.builtin").read_text().split()}
    order: list[str] = []

    def visit(mod: str) -> None:
        if mod in order:
            return
        for dep in reversed(deps.get(mod, [])):  # modules.dep lists the deepest last
            visit(dep)
        order.append(mod)

    for name in names:
        key = name.replace("-", "_")
        if key in by_name:
            visit(by_name[key])
        elif key not in builtin:
            raise VmUnavailableError(
                f"kernel module {name} is missing from /lib/modules/{release}: install the "
                f"kernel's modules (linux-image-{release})"
            )
    return [(mod, deps.get(mod, [])) for mod in order]


def _mod_name(path: str) -> str:
    name = os.path.basename(path)
    for suffix in (".xz", ".zst", ".gz"):
        name = name.removesuffix(suffix)
    return name.removesuffix(".ko").replace("-", "_")


def init_script(manifest: Manifest, venv_bin: str, project_root: str) -> str:
    """The guest's ``/init``: kernel file systems, modules, then the agent; power off after."""
    modules = " ".join(shlex.quote(m) for m in manifest.modules)
    q = shlex.quote
    return f"""#!/bin/sh
# /init of the qathw migratable guest (written by vm/initramfs.py)
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm /tmp /run /var/tmp /root
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
chmod 1777 /tmp /var/tmp
hostname qathw-guest
for m in {modules}; do
    insmod /lib/modules/{q(manifest.release)}/"$m" || echo "qathw-init: insmod $m failed"
done
echo "qathw-init: modules loaded; starting the agent"
cd {q(project_root)}
HOME=/root PATH={q(venv_bin)}:$PATH QATHW_IN_GUEST=1 PYTHONDONTWRITEBYTECODE=1 \\
    {q(manifest.python)} -m vm.agent --persistent --port-name {PORT_NAME} --connect-timeout 300
echo "qathw-init: the agent exited with $?; powering off"
poweroff -f
"""


def collect(tools: HostTools, *, project_root: Path = PROJECT_ROOT) -> Manifest:
    """What the initramfs for ``tools``' kernel and this virtual env holds.

    Raises:
        VmUnavailableError: a module, ldd or the interpreter's pieces are missing.
        VmError: a needed shared library cannot be resolved.
    """
    python = os.path.abspath(sys.executable)
    m = Manifest(release=tools.release, python=python)
    col = _Collector(m)
    for d in ("/bin", "/sbin", "/lib", "/lib64", "/usr/bin", "/usr/sbin"):
        if os.path.islink(d):
            col.symlink(d, os.readlink(d), "base")
        elif os.path.isdir(d):
            col.dir(d)
    for d in ("/proc", "/sys", "/dev", "/tmp", "/run", "/root", "/etc", "/var/tmp"):
        col.dir(d, 0o1777 if d.endswith("tmp") else 0o755)

    # busybox, its applets under the names it lists for itself
    bb = col.file(str(tools.busybox), "busybox", strip=False)
    listed = subprocess.run([bb, "--list-full"], capture_output=True, text=True, check=True)
    for rel in listed.stdout.split():
        link = col.resolve_dirs("/" + rel, "busybox")
        if link != bb and link not in m.items:
            col.symlink(link, bb, "busybox")
    col.data("/etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n", "base")
    col.data("/etc/group", b"root:x:0:\n", "base")

    # the interpreter: the virtual env's python (a symlink chain to the base one), pyvenv.cfg
    elves = [col.file(python, "python", strip=True)]
    venv_bin = os.path.dirname(python)
    for name in ("python", "python3", f"python3.{sys.version_info[1]}"):
        if os.path.lexists(os.path.join(venv_bin, name)):
            elves.append(col.file(os.path.join(venv_bin, name), "python", strip=True))
    cfg = os.path.join(sys.prefix, "pyvenv.cfg")
    if os.path.exists(cfg):
        col.file(cfg, "python")

    # the standard library, trimmed, as bytecode; its extension modules
    stdlib = sysconfig.get_paths()["stdlib"]

    def std_skip(path: str) -> bool:
        rel = os.path.relpath(path, stdlib)
        return rel.split("/")[0] in STDLIB_SKIP or not path.endswith(".py")

    top_skip = frozenset(d for d in STDLIB_SKIP if "." not in d) | {"lib-dynload", "idle_test"}
    for path in _walk(stdlib, top_skip | {"tests", "test"}, std_skip):
        if not os.path.relpath(path, stdlib).startswith("config-"):
            col.bytecode(path, "stdlib", keep_source=False)
    dynload = _dynload_dir()
    for path in _walk(dynload, frozenset()):
        if not os.path.basename(path).startswith(DYNLOAD_SKIP):
            elves.append(col.file(path, "stdlib", strip=True))

    # the distributions qathw needs at run time, and the commands they install (qathw)
    site = sysconfig.get_paths()["purelib"]
    for dist in runtime_distributions():
        files = [str(f) for f in (dist.files or []) if not str(f).startswith("..")]
        picked = [os.path.join(site, f) for f in files if not _skip_package_file(f)]
        picked = [p for p in picked if os.path.isfile(p)]
        elves += _add_python_tree(col, picked, "site-packages", keep_source=False)
    for script in _scripts(ROOT_DISTRIBUTION, venv_bin):
        col.file(script, "project")
    col.data(os.path.join(site, "qathw-guest.pth"), f"{project_root}\n".encode(), "project")

    # the project: sources and their bytecode
    for pkg in PROJECT_PACKAGES:
        files = list(_walk(str(project_root / pkg), frozenset({"__pycache__"}),
                           lambda p: p.endswith((".pyc", ".pyo"))))  # fmt: skip
        elves += _add_python_tree(col, files, "project", keep_source=True)

    # shared libraries of every ELF object inside
    for lib in sorted(_ldd(e for e in elves if e != bb)):
        if lib not in m.items:
            col.file(lib, "libraries", strip=not lib.startswith(site))

    # kernel modules, with what they depend on
    mods = Path("/lib/modules") / tools.release
    dep_lines = []
    for rel, deps in _module_closure(tools.release, MODULES):
        col.file(str(mods / rel), "modules")
        m.modules.append(rel)
        dep_lines.append(f"{rel}: {' '.join(deps)}")  # for busybox modprobe in the guest
    real_mods = col.resolve_dirs(str(mods / "modules.dep"), "modules")
    col.data(real_mods, ("\n".join(dep_lines) + "\n").encode(), "modules")
    for extra in ("modules.builtin", "modules.order"):
        if (mods / extra).exists():
            col.file(str(mods / extra), "modules")

    col.data("/init", init_script(m, venv_bin, str(project_root)).encode(), "init", mode=0o755)
    return m


# --- writing the archive ---------------------------------------------------------------


def _pyc(source: str, mtime: int) -> bytes:
    """Bytecode for ``source``: the host's own cached copy when it is current, else compiled."""
    st = os.stat(source)
    magic = importlib.util.MAGIC_NUMBER
    header = magic + struct.pack("<III", 0, mtime & 0xFFFFFFFF, st.st_size & 0xFFFFFFFF)
    cached = importlib.util.cache_from_source(source)
    with contextlib.suppress(OSError):
        with open(cached, "rb") as f:
            data = f.read()
        if data[:16] == header:
            return data
    with open(source, "rb") as f:
        code = compile(f.read(), source, "exec", dont_inherit=True)
    return header + marshal.dumps(code)


def _stripped(source: str, scratch: str) -> bytes:
    tool = _strip_tool()
    if tool is not None:
        out = os.path.join(scratch, "stripped")
        run = subprocess.run([tool, "--strip-unneeded", "-o", out, source], capture_output=True)
        if run.returncode == 0:
            with open(out, "rb") as f:
                return f.read()
    with open(source, "rb") as f:
        return f.read()


class _Cpio:
    """A ``newc`` cpio stream (the format the kernel unpacks into its rootfs)."""

    def __init__(self, out: IO[bytes]) -> None:
        self._out = out
        self._ino = 0x1000
        self.size = 0

    def _write(self, data: bytes) -> None:
        self._out.write(data)
        self.size += len(data)

    def entry(self, name: str, mode: int, data: bytes = b"", *, mtime: int = 0) -> None:
        self._ino += 1
        encoded = name.encode() + b"\0"
        nlink = 2 if stat.S_ISDIR(mode) else 1
        fields = (self._ino, mode, 0, 0, nlink, mtime, len(data), 0, 0, 0, 0, len(encoded), 0)
        head = b"070701" + b"".join(b"%08X" % v for v in fields)
        self._write(head + encoded + b"\0" * (-(len(head) + len(encoded)) % 4))
        if data:
            self._write(data + b"\0" * (-len(data) % 4))

    def trailer(self) -> None:
        self.entry("TRAILER!!!", 0)
        self._write(b"\0" * (-self.size % 512))


def _content(item: Item, scratch: str) -> bytes:
    if item.data is not None:
        return item.data
    assert item.source is not None
    if item.compile:
        return _pyc(item.source, item.mtime)
    if item.strip and _is_elf(item.source):
        return _stripped(item.source, scratch)
    with open(item.source, "rb") as f:
        return f.read()


def write_archive(manifest: Manifest, out: IO[bytes]) -> int:
    """Write ``manifest`` as a newc cpio to ``out`` (parents before children); its size.

    Uncompressed on purpose: the kernel unpacks it without a decompressor running under
    TCG, and compression would save nothing in guest RAM (the freed initrd pages read zero
    with ``init_on_free=1``, so migration skips them).
    """
    cpio = _Cpio(out)
    with tempfile.TemporaryDirectory(prefix="qathw-initramfs-") as scratch:
        for path in sorted(manifest.items):
            it = manifest.items[path]
            name = path.lstrip("/")
            if it.kind == "dir":
                cpio.entry(name, stat.S_IFDIR | it.mode, mtime=it.mtime)
            elif it.kind == "symlink":
                assert it.target is not None
                cpio.entry(name, stat.S_IFLNK | 0o777, it.target.encode(), mtime=it.mtime)
            else:
                cpio.entry(name, stat.S_IFREG | it.mode, _content(it, scratch), mtime=it.mtime)
        cpio.trailer()
    return cpio.size


# --- the cache -------------------------------------------------------------------------


@dataclass(frozen=True)
class Initramfs:
    """A built initramfs.

    Attributes:
        path: the archive (newc cpio, uncompressed).
        key: the hash of its inputs (part of its name).
        size: its bytes (what the guest unpacks into its RAM).
        parts: source bytes per part (busybox, python, stdlib, site-packages, ...).
        build_seconds: how long the build took (the original build, for a cached one).
        cached: it was found already built.
    """

    path: Path
    key: str
    size: int
    parts: dict[str, int]
    build_seconds: float
    cached: bool


def cache_dir() -> Path:
    """Where built archives are kept: ``$XDG_CACHE_HOME/qathw-vm``, else per user in /var/tmp."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    return Path(xdg) / "qathw-vm" if xdg else Path(f"/var/tmp/qathw-vm-{os.getuid()}")


def _own_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = path.lstat()
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
        raise VmError(
            f"{path} is not a directory of this user: the guest's root file system would come "
            "from there; remove it or set XDG_CACHE_HOME"
        )


def _prune(folder: Path) -> None:
    """Remove archives beyond the ``CACHE_KEEP`` most recently used that no one used for
    ``CACHE_KEEP_MINUTES``."""
    horizon = time.time() - CACHE_KEEP_MINUTES * 60
    used: list[tuple[float, Path]] = []
    for archive in folder.glob("initramfs-*.cpio"):
        with contextlib.suppress(OSError):
            used.append((archive.stat().st_mtime, archive))
    for mtime, archive in sorted(used, reverse=True)[CACHE_KEEP:]:
        if mtime < horizon:
            for old in (archive, archive.with_suffix(".json")):
                with contextlib.suppress(OSError):
                    old.unlink()


def build(manifest: Manifest, folder: Path | None = None) -> Initramfs:
    """The archive for ``manifest``: from the cache, or built into it (atomically).

    The archive's mtime says when it was last used (:func:`touch`); pruning spares the
    recently used ones, so a running guest's archive is there when it moves to a new QEMU.

    Raises:
        VmError: the cache directory is not this user's, or the build failed.
    """
    folder = folder or cache_dir()
    _own_dir(folder)
    key = manifest.key()
    path = folder / f"initramfs-{key[:20]}.cpio"
    meta = folder / f"initramfs-{key[:20]}.json"
    with open(folder / ".lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.exists() and meta.exists():
            info = json.loads(meta.read_text())
            os.utime(path)
            os.utime(meta)
            return Initramfs(path, key, path.stat().st_size, dict(info["parts"]),
                             float(info["build_seconds"]), True)  # fmt: skip
        started = time.monotonic()
        fd, tmp = tempfile.mkstemp(prefix=".initramfs-", dir=folder)
        try:
            with os.fdopen(fd, "wb") as out:
                size = write_archive(manifest, out)
                out.flush()
                os.fsync(out.fileno())
            seconds = time.monotonic() - started
            parts = manifest.parts()
            meta_tmp = f"{tmp}.json"
            Path(meta_tmp).write_text(json.dumps({
                "key": key, "size": size, "parts": parts,
                "build_seconds": round(seconds, 2), "release": manifest.release,
                "python": manifest.python, "items": len(manifest.items),
            }, indent=1))  # fmt: skip
            os.replace(tmp, path)
            os.replace(meta_tmp, meta)
        except BaseException:
            for leftover in (tmp, f"{tmp}.json"):
                with contextlib.suppress(OSError):
                    os.unlink(leftover)
            raise
        _prune(folder)
        return Initramfs(path, key, size, parts, seconds, False)


def touch(built: Initramfs) -> None:
    """Mark ``built`` as used now (a QEMU is about to read it).

    Raises:
        VmError: it is gone from the cache.
    """
    try:
        os.utime(built.path)
    except FileNotFoundError:
        raise VmError(
            f"the initramfs {built.path} was removed from the cache while a guest used it; "
            "boot the guest anew"
        ) from None


def ensure(tools: HostTools, folder: Path | None = None) -> Initramfs:
    """Collect the manifest for ``tools`` and this virtual env, and build (or find) it."""
    return build(collect(tools), folder)
