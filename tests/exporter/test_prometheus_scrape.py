"""A real Prometheus server scrapes ``qathw exporter`` and answers PromQL about the host.

Debian's ``prometheus`` runs on loopback with a free port, a scrape interval of one
second and its own temporary storage; the exporter serves a fake host whose emulated
endpoint is driven by a real device process. Every process is ended by pid on every path.
Skipped, with the reason printed, only where the binary is absent and cannot be installed
(not root, or no apt).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.exporter.served import BDF, ServedHost, qathw, send_requests
from tests.exporter.test_exporter_cli import exporter

pytestmark = pytest.mark.slow

DEADLINE = 90.0  # seconds before giving up on the server; a bound, not a measurement


def _install() -> str | None:
    """The prometheus binary, installed through apt where this process may."""
    found = shutil.which("prometheus")
    if found or os.geteuid() != 0 or shutil.which("apt-get") is None:
        return found
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "prometheus"],
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        capture_output=True,
        timeout=600,
        check=False,
    )
    return shutil.which("prometheus")


@pytest.fixture(scope="module")
def prometheus_binary() -> str:
    binary = _install()
    if binary is None:
        reason = "prometheus is not installed and cannot be (needs root and apt-get)"
        print(f"SKIP: {reason}")
        pytest.skip(reason)
    return binary


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _api(port: int, path: str, **query: str) -> Any:
    url = f"http://127.0.0.1:{port}/api/v1/{path}"
    if query:
        url += "?" + urllib.parse.urlencode(query)
    with urllib.request.urlopen(url, timeout=10) as r:
        doc = json.load(r)
    assert doc["status"] == "success", doc
    return doc["data"]


def _wait(what: str, probe: Any, server: subprocess.Popen[bytes]) -> Any:
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end:
        assert server.poll() is None, f"prometheus exited with {server.returncode}"
        try:
            found = probe()
        except OSError:
            found = None  # not listening yet
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"prometheus: {what} within {DEADLINE:g} s")


@pytest.fixture
def prometheus(
    prometheus_binary: str, served: ServedHost, tmp_path: Path
) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """Prometheus scraping an exporter of ``served``; yields the server and its port."""
    with exporter(served.env) as (_, target):
        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global:\n"
            "  scrape_interval: 1s\n"
            "  evaluation_interval: 1s\n"
            "scrape_configs:\n"
            "  - job_name: qathw\n"
            "    static_configs:\n"
            f"      - targets: ['127.0.0.1:{target}']\n"
        )
        port = _free_port()
        server = subprocess.Popen(
            [
                prometheus_binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            yield server, port
        finally:
            server.kill()
            server.wait()


def _value(port: int, promql: str) -> float | None:
    result = _api(port, "query", query=promql)["result"]
    return float(result[0]["value"][1]) if result else None


def test_prometheus_scrapes_the_exporter_and_answers_promql(
    prometheus: tuple[subprocess.Popen[bytes], int], served: ServedHost
) -> None:
    server, port = prometheus
    target = _wait(
        "the exporter's target up",
        lambda: [t for t in _api(port, "targets")["activeTargets"] if t["health"] == "up"],
        server,
    )
    assert target[0]["labels"]["job"] == "qathw"

    functions = json.loads(qathw("list", "--json", env=served.env).stdout)["functions"]
    counted = _wait(
        "count(qat_function_info)", lambda: _value(port, "count(qat_function_info)"), server
    )
    assert counted == len(functions) == 1

    send_requests(served, 123)
    query = f'sum(qat_emulated_requests_total{{bdf="{BDF}"}})'
    assert _wait("123 requests", lambda: _value(port, query) == 123, server)
    up = _value(port, f'qat_function_up{{bdf="{BDF}",generation="gen4"}}')
    assert up == 1
