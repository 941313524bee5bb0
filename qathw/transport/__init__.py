"""Transport: QAT ring pairs on banks, driven through the ring-CSR BAR, and the PF/VF mailbox.

Modules:

* :mod:`~qathw.transport.csr` — CSR offsets per generation as data, ring size codes,
  ring base encoding (pure data and arithmetic; ``fakedev`` reads it too);
* :mod:`~qathw.transport.pfvf` — the gen4 PF/VF message format and CRC-8 (pure data);
* :mod:`~qathw.transport.bank` — one bank of rings: its CSR window, arbitration, status;
* :mod:`~qathw.transport.ring` — rings and ring pairs: program, submit, poll;
* :mod:`~qathw.transport.mailbox` — the VF side of the gen4 PF/VF protocol.

This package's ``__init__`` imports nothing, so that the data modules can be used without
the code that drives hardware.
"""
