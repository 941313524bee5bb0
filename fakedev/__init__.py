"""fakedev: a fake memory-mapped QAT endpoint and fake sysfs trees.

The fake replaces only the bottom of the stack: qathw's own transport, request and
section code runs unchanged on top of it. fakedev may import qathw's layout and data
modules (``qathw.ids``, ``qathw.emulated``, ``qathw.fw``, the CSR tables), never the code
that drives hardware.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fakedev.host import HostEndpoint, QatHost, running
    from fakedev.hostspec import Endpoint, FakeHostError, Section

__all__ = ["Endpoint", "FakeHostError", "HostEndpoint", "QatHost", "Section", "running"]

# A whole fake host, loaded on first use: importing fakedev (as the device process and
# the layouts' users do) stays light.
_FROM_HOST = frozenset({"running", "QatHost", "HostEndpoint"})
_FROM_HOSTSPEC = frozenset({"Endpoint", "Section", "FakeHostError"})


def __getattr__(name: str) -> Any:
    if name in _FROM_HOST:
        from fakedev import host

        value = getattr(host, name)
    elif name in _FROM_HOSTSPEC:
        from fakedev import hostspec

        value = getattr(hostspec, name)
    else:
        raise AttributeError(f"module 'fakedev' has no attribute {name!r}")
    globals()[name] = value
    return value
