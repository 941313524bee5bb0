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
    from qathw.service.accelerator import (
        Accelerator,
        accelerator,
        compress,
        compressobj,
        decompress,
        decompressobj,
        hmac,
        new,
    )
    from qathw.service.framing import CorruptStreamError, TruncatedStreamError
    from qathw.service.instance import open_instances

__version__ = "0.1.0"

__all__ = [
    "Accelerator",
    "CorruptStreamError",
    "HeldSection",
    "QatError",
    "TruncatedStreamError",
    "__version__",
    "accelerator",
    "compress",
    "compressobj",
    "decompress",
    "decompressobj",
    "hmac",
    "new",
    "open_instances",
    "user_start",
    "user_stop",
]

# public name → the module that defines it
_LAZY = {
    "HeldSection": "qathw.sections",
    "user_start": "qathw.sections",
    "user_stop": "qathw.sections",
    "open_instances": "qathw.service.instance",
    # the streaming API (docs/api.md)
    "Accelerator": "qathw.service.accelerator",
    "accelerator": "qathw.service.accelerator",
    "compress": "qathw.service.accelerator",
    "compressobj": "qathw.service.accelerator",
    "decompress": "qathw.service.accelerator",
    "decompressobj": "qathw.service.accelerator",
    "hmac": "qathw.service.accelerator",
    "new": "qathw.service.accelerator",
    "CorruptStreamError": "qathw.service.framing",
    "TruncatedStreamError": "qathw.service.framing",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'qathw' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this hook
    return value
