"""``qathw exporter``: a real process serving /metrics, its --listen errors and its stop."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.exporter.scrape import Samples, parse
from tests.exporter.served import BDF, ROOT, ServedHost, qathw, send_requests
from tests.fakedev_sysfs.helpers import FakeFactory


@contextmanager
def exporter(env: dict[str, str], *args: str) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """``qathw exporter --listen 127.0.0.1:0 ARGS``, its port once it serves; killed by pid."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "qathw", "exporter", "--listen", "127.0.0.1:0", *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        m = re.fullmatch(r"qathw exporter: serving http://127\.0\.0\.1:(\d+)/metrics\n", line)
        assert m, line + (proc.stderr.read() if proc.poll() is not None else "")
        yield proc, int(m.group(1))
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def get(port: int) -> Samples:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as r:
        assert r.status == 200
        return parse(r.read().decode())


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serves_the_host_and_stops_cleanly_on_a_signal(
    make_fake: FakeFactory, sig: signal.Signals
) -> None:
    fake = make_fake("seed")
    with exporter({"QATHW_SYSFS_ROOT": str(fake.prefix)}) as (proc, port):
        s = get(port)
        assert len(s.find("qat_function_info")) == 2 + 32
        proc.send_signal(sig)
        assert proc.wait(30) == 0
        assert proc.stderr is not None and proc.stderr.read() == "qathw exporter: stopped\n"


def test_each_scrape_reads_the_device_counters_afresh(served: ServedHost) -> None:
    with exporter(served.env) as (_, port):
        before = sum(get(port).find("qat_emulated_requests_total", bdf=BDF))
        send_requests(served, 40)
        after = get(port)
    assert before == 0
    assert sum(after.find("qat_emulated_requests_total", bdf=BDF)) == 40
    assert sum(after.find("qat_emulated_request_bytes_total", bdf=BDF)) == 40 * 128
    assert sum(after.find("qat_emulated_response_bytes_total", bdf=BDF)) == 40 * 32


@pytest.mark.parametrize(
    ("listen", "message"),
    [
        ("9756", "qathw: --listen: '9756' is not ADDR:PORT: e.g. --listen 127.0.0.1:9756"),
        ("127.0.0.1:65536", "qathw: --listen: port 65536 in '127.0.0.1:65536' is not 0-65535"),
        ("::1:9756", "qathw: --listen: '::1:9756': write an IPv6 address in brackets"),
        ("[nope]:9756", "qathw: --listen: 'nope' in '[nope]:9756' is not an IPv6 address"),
    ],
)
def test_a_bad_listen_address_is_a_usage_error(listen: str, message: str, tmp_path: Path) -> None:
    done = qathw("exporter", "--listen", listen, env={"QATHW_SYSFS_ROOT": str(tmp_path)})
    assert done.returncode == 2
    assert done.stderr.startswith(message)


def test_a_port_in_use_says_so(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = qathw("exporter", "--listen", f"127.0.0.1:{port}", env={})
    assert done.returncode == 1
    assert done.stderr == (
        f"qathw: cannot listen on 127.0.0.1:{port}: Address already in use: another process "
        "listens there; pick another port with --listen\n"
    )


def test_an_address_not_of_this_host_says_so() -> None:
    done = qathw("exporter", "--listen", "192.0.2.1:9756", env={})  # TEST-NET-1, never ours
    assert done.returncode == 1
    assert "cannot listen on 192.0.2.1:9756: Cannot assign requested address" in done.stderr
