"""The runtime directory: where it is, and refused when it is not private."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

import qathw
from qathw.errors import SectionError
from qathw.paths import ENV_RUNTIME_DIR, ENV_SYSFS_ROOT
from qathw.sections import default_runtime_dir


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_runtime_dir_and_lock_files_are_created_private(seed_env: Path) -> None:
    runtime = Path(os.environ[ENV_RUNTIME_DIR])
    with qathw.user_start("SSL"):
        assert mode(runtime) == 0o700
        assert mode(runtime / "SSL_DEV0_INT_0.lock") == 0o600


def test_a_symlinked_runtime_dir_is_refused(seed_env: Path, tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    Path(os.environ[ENV_RUNTIME_DIR]).symlink_to(real)
    with pytest.raises(SectionError, match="is a symbolic link"):
        qathw.user_start("SSL")


def test_a_group_writable_runtime_dir_is_refused(seed_env: Path) -> None:
    runtime = Path(os.environ[ENV_RUNTIME_DIR])
    runtime.mkdir()
    runtime.chmod(0o770)
    with pytest.raises(SectionError, match="writable by group or others") as info:
        qathw.user_start("SSL")
    assert info.value.hint is not None and "chmod 0700" in info.value.hint


@pytest.mark.skipif(os.geteuid() != 0, reason="changing a directory's owner needs root")
def test_a_runtime_dir_of_another_user_is_refused(seed_env: Path) -> None:
    runtime = Path(os.environ[ENV_RUNTIME_DIR])
    runtime.mkdir(mode=0o700)
    os.chown(runtime, 65534, 65534)
    with pytest.raises(SectionError, match="belongs to uid 65534"):
        qathw.user_start("SSL")


def test_a_symlinked_lock_file_is_not_followed(seed_env: Path, tmp_path: Path) -> None:
    runtime = Path(os.environ[ENV_RUNTIME_DIR])
    runtime.mkdir(mode=0o700)
    target = tmp_path / "target"
    target.write_text("precious")
    (runtime / "SSL_DEV0_INT_0.lock").symlink_to(target)
    with pytest.raises(SectionError, match="cannot open the lock file of SSL_DEV0_INT_0"):
        qathw.user_start("SSL")
    assert target.read_text() == "precious"


def test_default_runtime_dir_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_RUNTIME_DIR, raising=False)
    monkeypatch.setenv(ENV_SYSFS_ROOT, str(tmp_path / "host" / "sys"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "xdg"))
    monkeypatch.setattr(os, "geteuid", lambda: 4242)
    # no <root>/run and no XDG dir: /tmp/qathw-<uid>
    assert default_runtime_dir() == Path("/tmp/qathw-4242")
    (tmp_path / "xdg").mkdir()
    assert default_runtime_dir() == tmp_path / "xdg" / "qathw"
    (tmp_path / "host" / "run").mkdir(parents=True)
    assert default_runtime_dir() == tmp_path / "host" / "run" / "qathw"
    monkeypatch.setenv(ENV_RUNTIME_DIR, str(tmp_path / "explicit"))
    assert default_runtime_dir() == tmp_path / "explicit"
