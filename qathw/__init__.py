"""qathw: a toolkit for Intel QuickAssist Technology (QAT) accelerators on Linux.

Layers, bottom to top (../shared/DESIGN.md): ``pci``/``vfio``/``dma``/``mmio`` →
``fw`` → ``transport`` → ``config`` → ``sections`` → ``service`` → ``cli``.

``open_instances`` (the request layer) is imported on first use, so that importing
``qathw`` for the admin commands does not load ``cryptography`` and ``numpy``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qathw.errors import QatError
from qathw.sections import HeldSection, user_start, user_stop

if TYPE_CHECKING:
    from qathw.service.instance import open_instances

__version__ = "0.1.0"

__all__ = ["HeldSection", "QatError", "__version__", "open_instances", "user_start", "user_stop"]


def __getattr__(name: str) -> Any:
    if name == "open_instances":
        from qathw.service.instance import open_instances

        return open_instances
    raise AttributeError(f"module 'qathw' has no attribute {name!r}")
