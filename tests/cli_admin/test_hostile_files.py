"""No input crashes or hangs a command: a device or FIFO where a file belongs, odd bytes.

Each bad input is built in a temporary directory and the real command runs in a child
process with a deadline and a memory limit, so that a hang or an unbounded read fails the
test instead of stalling or exhausting the machine. The answer must be one line,
``qathw: <what>: <hint>``, and never a traceback.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from demo.seed import write_seed_configs
from qathw.config.document import CONFIG_FILE_MAX
from qathw.paths import ENV_CONFIG_DIR, ENV_RUNTIME_DIR, ENV_SYSFS_ROOT
from qathw.sysfsio import NOT_KERNEL_HINT, SYSFS_ATTR_MAX
from tests.fakedev_sysfs.helpers import FakeFactory, run_cli

ROOT = Path(__file__).resolve().parents[2]
PF = "0000:6b:00.0"
#: Far more than any command needs; reading /dev/zero to the end needs more.
MEMORY_LIMIT = 2 << 30
DEADLINE = 30

#: How each bad file is made, and what qathw must call it.
BAD_FILES: dict[str, tuple[Callable[[Path], None], str]] = {
    "fifo": (lambda p: os.mkfifo(p), "a FIFO"),
    "dev-zero": (lambda p: p.symlink_to("/dev/zero"), "a character device"),
    "dev-urandom": (lambda p: p.symlink_to("/dev/urandom"), "a character device"),
}


def plant(path: Path, kind: str) -> str:
    """Replace ``path`` by a bad file of ``kind``; return the words qathw must use for it."""
    make, words = BAD_FILES[kind]
    path.unlink()
    make(path)
    return words


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def run_child(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``python ARGV`` with only ``env``'s qathw variables, a deadline and a memory limit."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("QATHW_")}
    return subprocess.run(
        [sys.executable, *argv],
        cwd=ROOT,
        env=clean | env,
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        preexec_fn=_limit_memory,
        check=False,
    )


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    """The single error line of a failed command (no traceback, nothing else)."""
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 1, done.stderr
    (line,) = done.stderr.splitlines()
    return line


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    """The seed's 4xxx_dev0/1.conf in a directory of their own."""
    where = tmp_path / "etc"
    write_seed_configs(where)
    return where


# --- sysfs attributes ---------------------------------------------------------------------


@pytest.mark.parametrize("command", [["list"], ["status"], ["show", PF], ["doctor"]])
@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_a_sysfs_attribute_that_is_a_fifo_or_device_is_named_in_one_line(
    make_fake: FakeFactory, kind: str, command: list[str]
) -> None:
    fake = make_fake("seed")
    attr = fake.host.pci_device(PF) / "device"
    words = plant(attr, kind)
    done = run_child(["-m", "qathw", *command], {ENV_SYSFS_ROOT: str(fake.prefix)})
    assert one_line_error(done) == (
        f"qathw: {attr} is {words}, not a sysfs attribute: {NOT_KERNEL_HINT}"
    )


def test_a_sysfs_attribute_longer_than_a_page_is_refused(make_fake: FakeFactory) -> None:
    fake = make_fake("seed")
    attr = fake.host.pci_device(PF) / "device"
    value = attr.read_bytes().strip()
    attr.write_bytes(value.ljust(SYSFS_ATTR_MAX - 1) + b"\n")
    assert run_cli(fake, "list").rc == 0  # a full page is still an attribute
    attr.write_bytes(value.ljust(SYSFS_ATTR_MAX) + b"\n")
    r = run_cli(fake, "list")
    assert (r.rc, r.err) == (
        1,
        f"qathw: {attr} holds more than {SYSFS_ATTR_MAX} bytes, too many for a sysfs "
        f"attribute: {NOT_KERNEL_HINT}\n",
    )


def test_a_pci_resource_file_that_is_a_fifo_is_named_not_waited_on(tmp_path: Path) -> None:
    fifo = tmp_path / "resource2"
    os.mkfifo(fifo)
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from qathw.errors import QatError\n"
        "from qathw.sysfsio import OsSysfsIO\n"
        "try:\n"
        "    OsSysfsIO().read_mapped(Path(sys.argv[1]), 4096)\n"
        "except QatError as exc:\n"
        "    print(exc)\n"
    )
    done = run_child(["-c", script, str(fifo)], {})
    assert done.stdout == f"{fifo} is a FIFO, not a PCI resource file: {NOT_KERNEL_HINT}\n"


def test_down_names_an_attribute_that_is_not_utf8(make_fake: FakeFactory) -> None:
    fake = make_fake("seed")
    state = fake.host.pci_device(PF) / "qat/state"
    state.write_bytes(b"up\xff\n")
    r = run_cli(fake, "down", PF)
    assert (r.rc, r.err) == (
        1,
        f"qathw: {state} holds byte 0xff at offset 2, which is not UTF-8; the kernel writes "
        f"ASCII there: {NOT_KERNEL_HINT}\n",
    )


# --- configuration files ------------------------------------------------------------------


@pytest.mark.parametrize("command", ["config check", "sections"])
@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_a_config_file_that_is_a_fifo_or_device_is_named_in_one_line(
    config_dir: Path, tmp_path: Path, kind: str, command: str
) -> None:
    conf = config_dir / "4xxx_dev0.conf"
    words = plant(conf, kind)
    argv = command.split() + ([str(conf)] if command == "config check" else [])
    env = {ENV_CONFIG_DIR: str(config_dir), ENV_RUNTIME_DIR: str(tmp_path / "run")}
    line = one_line_error(run_child(["-m", "qathw", *argv], env))
    what, _, hint = line.partition(": ")[2].partition(": ")
    assert what == f"{conf} is {words}, not a configuration file"
    assert "regular file" in hint


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_user_start_names_a_config_file_that_is_a_fifo_or_device(
    config_dir: Path, tmp_path: Path, kind: str
) -> None:
    conf = config_dir / "4xxx_dev0.conf"
    words = plant(conf, kind)
    script = (
        "import qathw\n"
        "try:\n"
        "    qathw.user_start('SSL')\n"
        "except qathw.QatError as exc:\n"
        "    print(type(exc).__name__, exc.path, exc.what, sep='\\n')\n"
    )
    env = {ENV_CONFIG_DIR: str(config_dir), ENV_RUNTIME_DIR: str(tmp_path / "run")}
    done = run_child(["-c", script], env)
    assert done.stdout.splitlines() == [
        "ConfigError",
        str(conf),
        f"{conf} is {words}, not a configuration file",
    ], done.stderr


def test_a_config_file_larger_than_the_cap_is_refused(tmp_path: Path) -> None:
    conf = tmp_path / "4xxx_dev0.conf"
    with conf.open("wb") as f:
        f.truncate(CONFIG_FILE_MAX + 1)  # sparse: no disk, only a size
    r = run_cli(None, "config", "check", str(conf))
    assert r.rc == 1
    assert r.err.startswith(
        f"qathw: {conf} holds more than {CONFIG_FILE_MAX} bytes, too many for a "
        "configuration file: "
    )


# --- arguments ----------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["nan", "inf"])
def test_monitor_refuses_a_timeout_that_is_not_a_finite_positive_number(value: str) -> None:
    done = run_child(["-m", "qathw", "monitor", "--timeout", value], {})
    assert (done.returncode, done.stderr) == (
        2,
        f"qathw: --timeout must be a positive number of seconds, not {value}: e.g. "
        "--timeout 10, or leave it out to wait forever\n",
    )
