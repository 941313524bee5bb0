"""Kernel versions at which the QAT sysfs ABI changed (docs/hardware.md#sysfs-abi).

A fake tree shows and accepts what the kernel of its topology does; each rule that depends
on the version compares with one of these.
"""

from __future__ import annotations

V_SERVICES_LIST = (6, 4)  # cfg_services takes any pair, not just "sym;asym" or "dc"
V_PM_IDLE = (6, 5)  # qat/pm_idle_enabled
V_HEARTBEAT = (6, 6)  # debugfs heartbeat/
V_REDUNDANT_STATE_OK = (6, 7)  # writing the state qat/state already has is a no-op, not EINVAL
V_RP2SRV = (6, 7)  # qat/rp2srv, qat/num_rps, qat_ras/
V_DCC = (6, 7)  # the "dcc" service
V_TELEMETRY = (6, 8)  # debugfs telemetry/
V_AUTO_RESET = (6, 9)  # qat/auto_reset
V_TOKEN_PARSER = (6, 15)  # cfg_services parsed as tokens, stored in canonical order
