"""``qathw sections`` shows the broker: running or not, its endpoints and its leases."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.broker.conftest import BDFS, ROOT, Rig


def _sections(rig: Rig, *args: str) -> str:
    config = rig.state / "config"
    config.mkdir(exist_ok=True)
    env = {"QATHW_CONFIG_DIR": str(config), "PATH": "/usr/bin:/bin"}
    cmd = [sys.executable, "-m", "qathw", "sections", "--runtime-dir", str(rig.runtime_dir)]
    done = subprocess.run(
        [*cmd, *args], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout


def test_json_shows_the_broker_its_endpoints_and_leases(rig: Rig) -> None:
    holder = rig.holder()
    lent = holder.ask(f"lend {BDFS[0]}")
    broker = json.loads(_sections(rig, "--json"))["broker"]
    assert broker["running"] is True
    assert broker["pid"] == holder.hello["broker_pid"]
    assert [e["bdf"] for e in broker["endpoints"]] == [BDFS[0]]
    assert broker["leases"][0]["pid"] == holder.pid
    assert broker["leases"][0]["ranges"][0]["iova_base"] == lent["iova_base"]


def test_text_shows_each_lease_with_its_iova_range(rig: Rig) -> None:
    holder = rig.holder()
    lent = holder.ask(f"lend {BDFS[1]}")
    text = _sections(rig)
    assert f"section broker: pid {holder.hello['broker_pid']}" in text
    assert (
        f"lease {holder.hello['lease']} pid {holder.pid}: {BDFS[1]} IOVA {lent['iova_base']:#x}"
        in text
    )


def test_json_says_when_no_broker_runs(rig: Rig) -> None:
    assert json.loads(_sections(rig, "--json"))["broker"] == {"running": False, "error": None}
