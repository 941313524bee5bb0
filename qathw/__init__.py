"""qathw: a toolkit for Intel QuickAssist Technology (QAT) accelerators on Linux.

Layers, bottom to top (docs/design.md#layers): ``pci``/``vfio``/``dma``/``mmio`` →
``fw`` → ``transport`` → ``config`` → ``sections`` → ``service`` → ``cli``.

The public names are imported on first use (PEP 562), so that importing one low layer
(``qathw.ids``, as fakedev does) loads no upper layer, and the admin commands never load
``cryptography`` or ``numpy``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from qathw.errors import QatError

if TYPE_CHECKING:
    from qathw.sections import HeldSection, user_start, user_stop
    from qathw.service.instance import open_instances

__version__ = "0.1.0"

__all__ = ["HeldSection", "QatError", "__version__", "open_instances", "user_start", "user_stop"]

# public name → the module that defines it
_LAZY = {
    "HeldSection": "qathw.sections",
    "user_start": "qathw.sections",
    "user_stop": "qathw.sections",
    "open_instances": "qathw.service.instance",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'qathw' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this hook
    return value
