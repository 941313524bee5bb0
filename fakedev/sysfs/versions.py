"""Kernel versions at which the QAT sysfs ABI changed (docs/hardware.md#sysfs-abi).

A fake tree shows and accepts what the kernel of its topology does; each rule that depends
on the version compares with one of these. The ``cfg_services`` grammar's own versions live with its
table in :mod:`qathw.cfg_services` (qathw checks values with it too) and are re-exported.
"""

from __future__ import annotations

from qathw.cfg_services import V_DCC, V_SERVICES_LIST, V_TOKEN_PARSER

V_PM_IDLE = (6, 5)  # qat/pm_idle_enabled
V_HEARTBEAT = (6, 6)  # debugfs heartbeat/
V_REDUNDANT_STATE_OK = (6, 7)  # writing the state qat/state already has is a no-op, not EINVAL
V_RP2SRV = (6, 7)  # qat/rp2srv, qat/num_rps, qat_ras/
V_TELEMETRY = (6, 8)  # debugfs telemetry/
V_AUTO_RESET = (6, 9)  # qat/auto_reset

__all__ = [
    "V_AUTO_RESET",
    "V_DCC",
    "V_HEARTBEAT",
    "V_PM_IDLE",
    "V_REDUNDANT_STATE_OK",
    "V_RP2SRV",
    "V_SERVICES_LIST",
    "V_TELEMETRY",
    "V_TOKEN_PARSER",
]
