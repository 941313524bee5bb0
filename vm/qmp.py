"""A synchronous QMP client for one guest (``qemu.qmp``'s legacy wrapper, with timeouts)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from vm.errors import VmError


class Qmp:
    """One QMP connection to a QEMU ``-qmp unix:PATH,server=on,wait=off`` socket.

    Args:
        path: the socket.
        timeout: seconds to wait for any one command.
    """

    def __init__(self, path: Path, timeout: float = 10.0) -> None:
        from qemu.qmp.legacy import QEMUMonitorProtocol

        self._qmp = QEMUMonitorProtocol(str(path))
        try:
            self._qmp.connect()
        except Exception as exc:
            raise VmError(f"cannot connect to QMP at {path}: {exc}") from exc
        self._qmp.settimeout(timeout)

    def execute(self, command: str, **arguments: Any) -> Any:
        """Run ``command``; return its ``return`` value.

        Raises:
            VmError: QEMU answered with an error, or did not answer in time.
        """
        try:
            reply = self._qmp.cmd_raw(command, arguments or None)
        except Exception as exc:
            raise VmError(f"QMP {command}: {exc}") from exc
        if "error" in reply:
            err = reply["error"]
            raise VmError(f"QMP {command}: {err.get('class')}: {err.get('desc')}")
        return reply.get("return")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._qmp.close()
