"""QAT out-of-tree driver configuration files: parse, validate, expand, allocate.

Modules, each with one job:

* :mod:`~qathw.config.document` — the lossless file model and ``adf_ctl``'s reading;
* :mod:`~qathw.config.diagnostics` — findings as data and the rule catalogue;
* :mod:`~qathw.config.values` — numbers, CoreAffinity lists, ServicesEnabled per generation;
* :mod:`~qathw.config.profiles` — device types as data (banks, rings, special sections);
* :mod:`~qathw.config.validate` — per-file, per-generation validation;
* :mod:`~qathw.config.rings` — expansion into internal sections and ring allocation;
* :mod:`~qathw.config.expand` — internal sections across devices, hand-out order;
* :mod:`~qathw.config.multidevice` — checks across dev0..devN, process totals;
* :mod:`~qathw.config.contract` — the application's section and process count (R21);
* :mod:`~qathw.config.devices` — which file is which device, and device numbering;
* :mod:`~qathw.config.analysis` — all of the above in one call.

Everything here is data in, data out: the package reads configuration files and nothing
else of the host; which devices the host has reaches it as
:class:`~qathw.config.devices.HostDevice` facts (:mod:`qathw.started`).

Reference: docs/hardware.md#config-files and the sections after it.
"""

from qathw.config.analysis import ConfigReport, FileReport, check, check_files, load
from qathw.config.contract import Expectation
from qathw.config.devices import DeviceRef, HostDevice, UnusedFile, started_devices
from qathw.config.diagnostics import RULES, Diagnostic, Severity
from qathw.config.document import ConfigDocument
from qathw.config.expand import Expansion, InternalSection
from qathw.config.rings import DeviceExpansion, Instance, RingPair

__all__ = [
    "RULES",
    "ConfigDocument",
    "ConfigReport",
    "DeviceExpansion",
    "DeviceRef",
    "Diagnostic",
    "Expansion",
    "Expectation",
    "FileReport",
    "HostDevice",
    "Instance",
    "InternalSection",
    "RingPair",
    "Severity",
    "UnusedFile",
    "check",
    "check_files",
    "load",
    "started_devices",
]
