"""For operators of many hosts: a Prometheus exporter and Kubernetes node labels.

:mod:`~qathw.fleet.metrics` turns what the inspection layers read (discovery, debugfs,
telemetry, an emulated endpoint's counters, the section locks) into Prometheus metrics at
each scrape; :mod:`~qathw.fleet.exporter` serves them over HTTP; :mod:`~qathw.fleet.nfd`
writes node-feature-discovery labels. docs/operators.md says what each one means.

Empty on purpose: importing one module must not load the others (docs/design.md#layers).
"""
