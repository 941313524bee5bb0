"""``qathw sample cipher``: the seed's sample application, run for real against fakedev.

The endpoint is an emulated 4xxx served by ``python -m fakedev serve`` in its own process
and presented in a fake sysfs tree; the CLI runs as its own process too.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from demo.seed import write_seed_configs
from fakedev.sysfs import build

ROOT = Path(__file__).resolve().parents[2]


def _qathw(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "qathw", *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A private /dev/shm directory with the seed's config files and a runtime dir."""
    d = Path(f"/dev/shm/qathw-sample-{uuid.uuid4().hex[:8]}")
    d.mkdir()
    write_seed_configs(d / "etc")
    yield d
    subprocess.run(["rm", "-rf", str(d)], check=False)


def _base_env(d: Path) -> dict[str, str]:
    return {
        "QATHW_CONFIG_DIR": str(d / "etc"),
        "QATHW_RUNTIME_DIR": str(d / "run"),
        "QATHW_SYSFS_ROOT": str(d / "nowhere"),
    }


def _hint_commands(stderr: str) -> list[str]:
    return re.findall(r"'(python -m [^']+|export [^']+)'", stderr)


def test_without_an_endpoint_it_says_how_to_run_against_fakedev(workdir: Path) -> None:
    done = _qathw("sample", "cipher", "--alg", "des-cbc", "-n", "10", env=_base_env(workdir))
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.startswith(
        "qathw: SSL_DEV0_INT_0: qat_dev0 (4xxx_dev0.conf) has no PCI function to open"
    )
    assert _hint_commands(done.stderr) == [
        "python -m fakedev create /dev/shm/qat0 --device 4xxx --size 64M",
        "python -m fakedev serve /dev/shm/qat0 &",
        "python -m fakedev.sysfs /dev/shm/qathw-host --topology empty "
        "--emulated 0000:00:10.0=/dev/shm/qat0",
        "export QATHW_SYSFS_ROOT=/dev/shm/qathw-host/sys",
    ]


def test_the_commands_it_gives_make_it_work(workdir: Path) -> None:
    env = _base_env(workdir)
    refused = _qathw("sample", "cipher", "-n", "1", env=env)
    # Follow the hint literally, with this test's own paths instead of /dev/shm/qat0 and
    # /dev/shm/qathw-host (other runs may use those).
    mine = {"/dev/shm/qat0": str(workdir / "qat0"), "/dev/shm/qathw-host": str(workdir / "host")}
    serve: subprocess.Popen[str] | None = None
    try:
        for command in _hint_commands(refused.stderr):
            for theirs, ours in mine.items():
                command = command.replace(theirs, ours)
            argv = shlex.split(command)
            if argv[0] == "export":
                name, _, value = argv[1].partition("=")
                env[name] = value
            elif argv[-1] == "&":
                serve = subprocess.Popen(
                    [sys.executable, *argv[1:-1]],
                    cwd=ROOT,
                    env={**os.environ, "PYTHONPATH": str(ROOT)},
                    stdout=subprocess.PIPE,
                    text=True,
                )
                assert serve.stdout is not None and "serving" in serve.stdout.readline()
            else:
                subprocess.run([sys.executable, *argv[1:]], cwd=ROOT, check=True, timeout=60)
        done = _qathw("sample", "cipher", "-n", "500", env=env)
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert lines[0] == (
            "aes-128-cbc: 500 x 64 bytes on SSL0 (SSL_DEV0_INT_0, qat_dev0 0000:00:10.0, bank 9)"
        )
        assert lines[1] == "verified against cryptography: 500 of 500, all match"
        assert re.fullmatch(r"500 ops in [\d.]+ s: [\d,]+ ops/s \([\d,.]+ Mbit/s\)", lines[2])

        as_json = _qathw(
            "sample",
            "cipher",
            "--alg",
            "aes-256-ctr",
            "-n",
            "300",
            "--batch",
            "64",
            "--json",
            env=env,
        )
        assert as_json.returncode == 0, as_json.stderr
        doc = json.loads(as_json.stdout)
        assert doc["schema_version"] == 2
        assert (doc["algorithm"], doc["count"], doc["verified"], doc["mismatches"]) == (
            "aes-256-ctr",
            300,
            300,
            0,
        )
        assert doc["section"] == "SSL_DEV0_INT_0" and doc["bdf"] == "0000:00:10.0"
        assert doc["ops_per_second"] > 0

        # The seed's DES runs on gen2 only: on this 4xxx it is refused before sending.
        des = _qathw("sample", "cipher", "--alg", "des-cbc", "-n", "1", env=env)
        assert des.returncode == 1 and des.stdout == ""
        assert des.stderr.startswith(
            "qathw: des-cbc is not offered by this 4xxx endpoint (gen4): "
            "this 4xxx endpoint (gen4) offers: aes-128-cbc"
        )
    finally:
        if serve is not None:
            serve.terminate()
            serve.wait(10)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--size", "60"],
            "qathw: aes-128-cbc encrypts whole 16-byte blocks; --size 60 is not a "
            "multiple: use --size 48",
        ),
        (["--alg", "rc4"], "qathw: algorithm 'rc4' is not supported: ciphers: aes-128-cbc"),
        (["--alg", "sha256"], "qathw: 'sha256' is not a cipher: ciphers:"),
        (["-n", "0"], "qathw: argument -n/--count: must be 1..10000000, not 0"),
        (["--batch", "x"], "qathw: argument --batch: 'x' is not a whole number"),
    ],
)
def test_bad_arguments_are_usage_errors(workdir: Path, args: list[str], message: str) -> None:
    done = _qathw("sample", "cipher", *args, env=_base_env(workdir))
    assert done.returncode == 2
    assert message in done.stderr


def test_an_unknown_section_says_which_exist(workdir: Path) -> None:
    done = _qathw("sample", "cipher", "--section", "IPsec", env=_base_env(workdir))
    assert done.returncode == 1
    assert "did you mean 'IPSec'?" in done.stderr


def test_with_no_configuration_it_points_at_the_fakedev_recipe(tmp_path: Path) -> None:
    env = {"QATHW_CONFIG_DIR": str(tmp_path), "QATHW_RUNTIME_DIR": str(tmp_path / "run")}
    done = _qathw("sample", "cipher", "-n", "1", env=env)
    assert done.returncode == 1
    assert "no started devices" in done.stderr
    assert "'qathw sample cipher --help' shows how to run it on fakedev" in done.stderr


def test_devices_that_are_down_are_named_with_what_brings_them_up(workdir: Path) -> None:
    fake = build(workdir / "host", "seed")
    for pf in ("0000:6b:00.0", "0000:70:00.0"):  # as 'qathw down' does, through the kernel
        fake.kernel.write(fake.host.pci_device(pf) / "qat" / "state", b"down")
    env = {**_base_env(workdir), "QATHW_SYSFS_ROOT": str(workdir / "host")}
    done = _qathw("sample", "cipher", "-n", "1", env=env)
    assert done.returncode == 1
    etc = workdir / "etc"
    assert done.stderr == (
        f"qathw: no started devices: found {etc}/4xxx_dev0.conf, but qat_dev0 (0000:6b:00.0) "
        f"is down; found {etc}/4xxx_dev1.conf, but qat_dev1 (0000:70:00.0) is down: "
        "run 'qathw up 0000:6b:00.0' (as root); without QAT hardware: "
        "'qathw sample cipher --help' shows how to run it on fakedev\n"
    )


def test_the_help_recipe_runs_as_written() -> None:
    from qathw.cli.commands.sample import TRY_WITH_FAKEDEV

    commands = [ln.strip() for ln in TRY_WITH_FAKEDEV.splitlines() if ln.startswith("  ")]
    assert len(commands) == 1
    venv_bin = str(Path(sys.executable).parent)
    done = subprocess.run(
        ["bash", "-c", commands[0].replace("python ", f"{sys.executable} ", 1)],
        cwd="/",  # the installed package, not this checkout's directory
        env={**os.environ, "PATH": f"{venv_bin}:{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "verified against cryptography: 1000 of 1000, all match" in done.stdout
