"""Prometheus metrics of a host's QAT functions, read fresh at every scrape.

:class:`QatCollector` is a custom collector (prometheus_client's ``Collector``): nothing is
cached between scrapes, so a function that went down, a VF count that changed or a section
released shows at the next scrape. What cannot be read is left out of the answer and
counted in ``qat_scrape_errors_total{source=...}``; a scrape never fails as a whole.

Every per-function metric carries the labels ``bdf``, ``device`` (``qat_devN``, empty for a
function that is not an accel device), ``generation`` (``gen4``) and ``numa_node`` (empty
when the kernel reports none). The metric names, their types and their help text are
:data:`METRICS`; docs/operators.md lists them with the files they come from.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter as Tally
from collections.abc import Iterable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from qathw import debugfs, discovery, sysfsio
from qathw.config.diagnostics import Severity
from qathw.debugfs import DebugfsInfo
from qathw.discovery import Inventory, QatFunction, Role
from qathw.errors import DeviceStateError, QatError
from qathw.paths import HostRoot
from qathw.sections import list_sections
from qathw.sysfsio import SysfsIO
from qathw.telemetry import RP_SLOTS, EndpointTelemetry, Sample, Telemetry

log = logging.getLogger("qathw.exporter")

FUNCTION_LABELS = ("bdf", "device", "generation", "numa_node")


@dataclass(frozen=True)
class MetricSpec:
    """One metric family: its type, help text and labels beyond :data:`FUNCTION_LABELS`."""

    kind: Literal["gauge", "counter"]
    help: str
    labels: tuple[str, ...] = ()
    per_function: bool = True

    def label_names(self) -> list[str]:
        return [*(FUNCTION_LABELS if self.per_function else ()), *self.labels]


#: Every metric the exporter can send, by name as exposed (counters end in ``_total``).
METRICS: dict[str, MetricSpec] = {
    "qat_function_info": MetricSpec(
        "gauge",
        "A QAT function of this host (always 1); its identity in the labels",
        ("role", "class_name", "product", "driver", "pf"),
    ),
    "qat_function_up": MetricSpec(
        "gauge",
        "1 when the function is up (a PF's qat/state; a VF's PF; an emulated endpoint's "
        "backend), 0 when down; absent when unknown",
    ),
    "qat_function_service_enabled": MetricSpec(
        "gauge", "1 for each service the function is configured for (cfg_services)", ("service",)
    ),
    "qat_sriov_numvfs": MetricSpec("gauge", "VFs enabled on the PF (sysfs sriov_numvfs)"),
    "qat_sriov_totalvfs": MetricSpec("gauge", "VFs the PF can enable (sysfs sriov_totalvfs)"),
    "qat_heartbeat_ok": MetricSpec(
        "gauge",
        "1 when the PF's firmware answered its last heartbeat (debugfs heartbeat/status 0), "
        "0 when not",
    ),
    "qat_heartbeat_queries_sent_total": MetricSpec(
        "counter", "Heartbeat queries the driver sent (debugfs heartbeat/queries_sent)"
    ),
    "qat_heartbeat_queries_failed_total": MetricSpec(
        "counter", "Heartbeat queries that failed (debugfs heartbeat/queries_failed)"
    ),
    "qat_firmware_requests_total": MetricSpec(
        "counter", "Requests an acceleration engine received (debugfs fw_counters)", ("engine",)
    ),
    "qat_firmware_responses_total": MetricSpec(
        "counter", "Responses an acceleration engine sent (debugfs fw_counters)", ("engine",)
    ),
    "qat_telemetry_enabled": MetricSpec(
        "gauge", "1 while the PF collects telemetry (debugfs telemetry/control > 0), else 0"
    ),
    "qat_telemetry_device": MetricSpec(
        "gauge",
        "A device telemetry counter's current value (debugfs telemetry/device_data; "
        "latencies in ns, bandwidth in Mbps, util and exec in percent)",
        ("counter",),
    ),
    "qat_telemetry_ring_pair": MetricSpec(
        "gauge",
        "A ring-pair telemetry counter's current value (debugfs telemetry/rp_<slot>_data)",
        ("slot", "ring_pair", "service", "counter"),
    ),
    "qat_emulated_requests_total": MetricSpec(
        "counter",
        "Requests the emulated endpoint's device took off a bank's request rings",
        ("bank",),
    ),
    "qat_emulated_request_bytes_total": MetricSpec(
        "counter", "Bytes of the request messages the emulated device read", ("bank",)
    ),
    "qat_emulated_response_bytes_total": MetricSpec(
        "counter", "Bytes of the response messages the emulated device wrote", ("bank",)
    ),
    "qat_section_holders": MetricSpec(
        "gauge",
        "Processes holding an internal section (0 or 1; its lock file says)",
        ("section", "user_section"),
        per_function=False,
    ),
    "qat_scrape_errors_total": MetricSpec(
        "counter",
        "Things the exporter could not read, by source (their metrics were left out)",
        ("source",),
        per_function=False,
    ),
    "qat_scrape_duration_seconds": MetricSpec(
        "gauge", "How long the last collection took", per_function=False
    ),
}

#: ``source`` values of ``qat_scrape_errors_total``.
ERROR_SOURCES = ("discovery", "sysfs", "debugfs", "telemetry", "endpoint", "sections")


def _family(name: str) -> GaugeMetricFamily | CounterMetricFamily:
    spec = METRICS[name]
    if spec.kind == "counter":
        return CounterMetricFamily(name, spec.help, labels=spec.label_names())
    return GaugeMetricFamily(name, spec.help, labels=spec.label_names())


def function_labels(fn: QatFunction) -> list[str]:
    """The values of :data:`FUNCTION_LABELS` for ``fn``."""
    node = fn.pci.numa_node
    return [
        fn.bdf,
        f"qat_dev{fn.accel_id}" if fn.accel_id is not None else "",
        fn.generation.traits.label,
        "" if node is None or node < 0 else str(node),
    ]


class _Scrape:
    """The metric families of one collection, filled as things are read."""

    def __init__(self) -> None:
        self.families = {name: _family(name) for name in METRICS}
        self.errors: Tally[str] = Tally()

    def add(self, name: str, labels: Iterable[str], value: float) -> None:
        self.families[name].add_metric(list(labels), value)

    def failed(self, source: str, what: object) -> None:
        self.errors[source] += 1
        log.debug("scrape: %s: %s", source, what)


class QatCollector(Collector):
    """Collects the QAT metrics of a host at each scrape.

    Args:
        host: the host root; ``$QATHW_SYSFS_ROOT`` or the machine by default.
        config_dir: where ``<class>_dev<N>.conf`` are (for the sections); the default of
            :func:`qathw.sections.list_sections` when ``None``.
        runtime_dir: where the section locks are; the default when ``None``.
        io: the sysfs seam to read through; the one current at each scrape when ``None``.
    """

    def __init__(
        self,
        host: HostRoot | None = None,
        *,
        config_dir: str | Path | None = None,
        runtime_dir: str | Path | None = None,
        io: SysfsIO | None = None,
    ) -> None:
        self.host = host if host is not None else HostRoot.from_env()
        self.config_dir = config_dir
        self.runtime_dir = runtime_dir
        self.io = io
        self._errors: Tally[str] = Tally({source: 0 for source in ERROR_SOURCES})
        self._lock = threading.Lock()  # scrapes may overlap (one thread per request)

    def describe(self) -> list[Metric]:
        """Nothing: registering must not scrape the host (prometheus_client would call
        :meth:`collect` to learn the names otherwise)."""
        return []

    def collect(self) -> Iterator[Metric]:
        """The metric families of the host as it is now.

        Returns:
            Every family of :data:`METRICS` (some may have no samples).
        """
        start = time.monotonic()
        scrape = _Scrape()
        with sysfsio.using(self.io) if self.io is not None else nullcontext():
            inventory = self._inventory(scrape)
            if inventory is not None:
                for fn in inventory:
                    try:
                        self._function(scrape, inventory, fn)
                    except (QatError, OSError, ValueError) as exc:
                        # A function that vanished or changed under the reads: leave out
                        # the rest of it, keep the others.
                        scrape.failed("sysfs", f"{fn.bdf}: {exc}")
            self._sections(scrape)
        with self._lock:
            self._errors.update(scrape.errors)
            errors = dict(self._errors)
        for source, count in sorted(errors.items()):
            scrape.add("qat_scrape_errors_total", [source], count)
        scrape.add("qat_scrape_duration_seconds", [], time.monotonic() - start)
        yield from scrape.families.values()

    # --- parts ---------------------------------------------------------------------------

    def _inventory(self, scrape: _Scrape) -> Inventory | None:
        try:
            inventory = discovery.discover(self.host)
        except QatError as exc:
            scrape.failed("discovery", exc)
            return None
        for item in inventory.unidentified:
            scrape.failed("discovery", f"{item.pci.bdf}: {item.reason}")
        for _, why in inventory.vanished:
            scrape.failed("discovery", why)
        return inventory

    def _function(self, scrape: _Scrape, inventory: Inventory, fn: QatFunction) -> None:
        labels = function_labels(fn)
        pf = inventory.pf_of(fn) if fn.role is Role.VF else None
        scrape.add(
            "qat_function_info",
            [
                *labels,
                fn.role.value,
                fn.class_name,
                fn.kind.family.product,
                fn.pci.driver or "",
                pf.bdf if pf is not None else (str(fn.pf) if fn.pf else ""),
            ],
            1,
        )
        for field, why in fn.pci.unreadable.items():
            scrape.failed("sysfs", f"{fn.bdf} {field}: {why}")
        if fn.state in ("up", "down"):
            scrape.add("qat_function_up", labels, 1 if fn.state == "up" else 0)
        for service in sorted({s for s in (fn.services or "").split(";") if s}):
            scrape.add("qat_function_service_enabled", [*labels, service], 1)
        sriov = fn.pci.sriov
        if fn.role is Role.PF and sriov is not None:
            if sriov.num_vfs is not None:
                scrape.add("qat_sriov_numvfs", labels, sriov.num_vfs)
            if sriov.total_vfs is not None:
                scrape.add("qat_sriov_totalvfs", labels, sriov.total_vfs)
        if fn.role is Role.PF and fn.state == "up":
            info = debugfs.read(self.host, fn.class_name, fn.bdf)
            self._debugfs(scrape, fn, labels, info)
            if fn.kind.family.traits.telemetry and info.telemetry_control:
                self._telemetry(scrape, fn, labels)
        if fn.role is Role.EMULATED and fn.control is not None:
            self._endpoint(scrape, fn, labels)

    def _debugfs(
        self, scrape: _Scrape, fn: QatFunction, labels: list[str], info: DebugfsInfo
    ) -> None:
        for field, why in info.unreadable.items():
            scrape.failed("debugfs", f"{fn.bdf} {field}: {why}")
        hb = info.heartbeat
        if hb is not None:
            if hb.alive is not None:
                scrape.add("qat_heartbeat_ok", labels, 1 if hb.alive else 0)
            if hb.queries_sent is not None:
                scrape.add("qat_heartbeat_queries_sent_total", labels, hb.queries_sent)
            if hb.queries_failed is not None:
                scrape.add("qat_heartbeat_queries_failed_total", labels, hb.queries_failed)
        for row in info.fw_counters or ():
            engine = [*labels, str(row.engine)]
            scrape.add("qat_firmware_requests_total", engine, row.requests)
            scrape.add("qat_firmware_responses_total", engine, row.responses)
        if info.telemetry_control is not None:
            scrape.add("qat_telemetry_enabled", labels, 1 if info.telemetry_control else 0)

    def _telemetry(self, scrape: _Scrape, fn: QatFunction, labels: list[str]) -> None:
        tl = Telemetry(self.host, fn.class_name, fn.bdf)
        try:
            device = tl.device()
        except QatError as exc:
            scrape.failed("telemetry", exc)
            return
        for c in device.counters:
            scrape.add("qat_telemetry_device", [*labels, c.name], c.value)
        for slot in RP_SLOTS:
            try:
                sample = tl.ring_pair(slot)
            except DeviceStateError:
                continue  # no ring pair selected in this slot: nothing to say
            except QatError as exc:
                scrape.failed("telemetry", exc)
                continue
            self._ring_pair(scrape, labels, slot, sample)

    @staticmethod
    def _ring_pair(scrape: _Scrape, labels: list[str], slot: str, sample: Sample) -> None:
        rp = "" if sample.rp_num is None else str(sample.rp_num)
        for c in sample.counters:
            scrape.add(
                "qat_telemetry_ring_pair",
                [*labels, slot, rp, sample.service_type or "", c.name],
                c.value,
            )

    def _endpoint(self, scrape: _Scrape, fn: QatFunction, labels: list[str]) -> None:
        assert fn.control is not None
        tl = EndpointTelemetry(fn.pci.sysfs_path / "resource2", fn.bdf, fn.control.num_banks)
        try:
            banks = tl.counters()
        except QatError as exc:
            scrape.failed("endpoint", exc)
            return
        for b in banks:
            bank = [*labels, str(b.bank)]
            scrape.add("qat_emulated_requests_total", bank, b.requests)
            scrape.add("qat_emulated_request_bytes_total", bank, b.request_bytes)
            scrape.add("qat_emulated_response_bytes_total", bank, b.response_bytes)

    def _sections(self, scrape: _Scrape) -> None:
        try:
            report, statuses = list_sections(self.config_dir, self.runtime_dir, host=self.host)
        except (QatError, OSError) as exc:
            scrape.failed("sections", exc)
            return
        for d in report.all_diagnostics:
            if d.severity is Severity.ERROR:
                scrape.failed("sections", d.format())
        for st in statuses:
            sec = st.section
            held = 1 if st.holder is not None else 0
            scrape.add("qat_section_holders", [sec.name, sec.user_section], held)


__all__ = ["ERROR_SOURCES", "FUNCTION_LABELS", "METRICS", "MetricSpec", "QatCollector"]
