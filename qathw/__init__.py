"""qathw: a toolkit for Intel QuickAssist Technology (QAT) accelerators on Linux.

Layers, bottom to top (../shared/DESIGN.md): ``pci``/``vfio``/``dma``/``mmio`` →
``fw`` → ``transport`` → ``config`` → ``sections`` → ``service`` → ``cli``.
"""

from qathw.errors import QatError
from qathw.sections import HeldSection, user_start, user_stop

__version__ = "0.1.0"

__all__ = ["HeldSection", "QatError", "__version__", "user_start", "user_stop"]
