"""How an emulated endpoint's backend hands out ring-interrupt eventfds (pure data).

A real QAT function signals responses with an MSI(-X) interrupt, which VFIO delivers to an
eventfd. An emulated endpoint on the host has no interrupt line; its backend (the fakedev
device process) plays the interrupt controller instead, the way ``ivshmem-server`` hands
QEMU its doorbell eventfds:

* it listens on a Unix ``SOCK_SEQPACKET`` socket in the abstract namespace named
  :func:`socket_name` of its epoch (the ``backend_epoch`` of the control page, new at
  every backend start, so a driver always reaches the backend that serves the file now,
  and no file is left behind when the backend dies);
* a driver sends :data:`REQUEST` (magic, version, bank) and gets :data:`REPLY` (magic,
  version, status: 0 or an errno) with one eventfd in ``SCM_RIGHTS`` when the status is 0;
* the backend writes that eventfd whenever it posts responses on a response ring of the
  bank whose interrupt the driver enabled (``INT_COL_EN`` bit of the ring), at once or
  after the coalescing delay of ``INT_COL_CTL``, as the hardware raises the bank's
  interrupt.

Both sides import this module: the layout is defined once.
"""

from __future__ import annotations

import struct

MAGIC = b"QIRQ"
VERSION = 1
REQUEST = struct.Struct("<4sHH")  # magic, version, bank
REPLY = struct.Struct("<4sHh")  # magic, version, status (0 or an errno)


def socket_name(epoch: int) -> bytes:
    """The abstract socket name of the backend with ``epoch`` (leading NUL: abstract)."""
    return b"\0qathw-emu-irq-%016x" % (epoch & ((1 << 64) - 1))
