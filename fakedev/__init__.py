"""fakedev: a fake memory-mapped QAT endpoint and fake sysfs trees.

The fake replaces only the bottom of the stack: qathw's own transport, request and
section code runs unchanged on top of it. fakedev may import qathw's layout and data
modules (``qathw.ids``, ``qathw.emulated``, ``qathw.fw``, the CSR tables), never the code
that drives hardware.
"""
