"""qathw: a toolkit for Intel QuickAssist Technology (QAT) accelerators on Linux.

Layers, bottom to top (../shared/DESIGN.md): ``pci``/``vfio``/``dma``/``mmio`` →
``fw`` → ``transport`` → ``config`` → ``sections`` → ``service`` → ``cli``.
"""

from qathw.errors import QatError

__version__ = "0.1.0"

__all__ = ["QatError", "__version__"]
