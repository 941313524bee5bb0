"""Read an exporter's answer back as samples: through the text format Prometheus reads."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector


@dataclass(frozen=True)
class Samples:
    """The samples of one scrape, with the HELP text of each family."""

    rows: tuple[tuple[str, dict[str, str], float], ...]
    helps: dict[str, str]
    text: str

    def find(self, name: str, **labels: str) -> list[float]:
        """Values of ``name`` whose labels include ``labels``."""
        return [
            value
            for n, have, value in self.rows
            if n == name and all(have.get(k) == v for k, v in labels.items())
        ]

    def one(self, name: str, **labels: str) -> float:
        """The single value of ``name`` with ``labels`` (fails when there are 0 or 2+)."""
        found = self.find(name, **labels)
        assert len(found) == 1, f"{name}{labels}: {found}"
        return found[0]

    def names(self) -> set[str]:
        return {n for n, _, _ in self.rows}


def parse(text: str) -> Samples:
    rows = []
    helps = {}
    for family in text_string_to_metric_families(text):
        helps[family.name] = family.documentation
        for s in family.samples:
            rows.append((s.name, dict(s.labels), float(s.value)))
    return Samples(tuple(rows), helps, text)


def scrape(collector: Collector) -> Samples:
    """One collection of ``collector``, exposed and parsed as Prometheus would."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return parse(generate_latest(registry).decode())
