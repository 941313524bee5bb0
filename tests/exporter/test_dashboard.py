"""docs/grafana-qathw.json queries only metrics the exporter sends."""

from __future__ import annotations

import json
import re
from pathlib import Path

from demo.seed import write_seed_configs
from fakedev.topologies import EmulatedSpec
from qathw.fleet.metrics import METRICS, QatCollector
from tests.exporter.scrape import scrape
from tests.fakedev_sysfs.helpers import FakeFactory, write_endpoint_file

DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana-qathw.json"


def _queried_names() -> set[str]:
    doc = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in doc["panels"] for t in p["targets"]]
    return {n for e in exprs for n in re.findall(r"\bqat_[a-z_]+\b", e)}


def test_the_dashboard_queries_metrics_the_exporter_defines() -> None:
    names = _queried_names()
    assert names and names <= set(METRICS), names - set(METRICS)


def test_every_metric_the_dashboard_queries_has_samples_on_a_full_fake_host(
    make_fake: FakeFactory, tmp_path: Path
) -> None:
    fake = make_fake("seed")
    fake.add_emulated(EmulatedSpec("0000:00:10.0", write_endpoint_file(tmp_path / "ep")))
    tl = fake.host.debugfs / "qat_4xxx_0000:6b:00.0" / "telemetry"
    fake.kernel.write(tl / "control", b"1\n")
    fake.kernel.write(tl / "rp_A_data", b"0\n")
    write_seed_configs(tmp_path / "etc")
    collector = QatCollector(
        fake.host, config_dir=tmp_path / "etc", runtime_dir=tmp_path / "run", io=fake.kernel
    )
    sampled = scrape(collector).names()
    assert not {n for n in _queried_names() if n not in sampled}
