"""How the device model hands requests to services, and how responses are made.

The device model consumes requests from a ring in order and gives each to the handler of
its ``service_type``; a handler returns the 32-byte response. Handlers for LA and COMP
live in :mod:`fakedev.engine`; the NULL service and "unsupported" are here. Every
response is made by :func:`fakedev.wire.make_response`.

A handler processes one request; a handler may also offer ``process_batch`` to take many
requests of one ring at once (the NULL service does, with numpy), which the device model
uses when present.
"""

from __future__ import annotations

from typing import Protocol

from fakedev.memory import DeviceMemory
from fakedev.wire import make_response
from qathw.fw.common import Status


class ServiceHandler(Protocol):
    """Executes one request of one service."""

    def __call__(self, request: bytes, memory: DeviceMemory) -> bytes:
        """Execute ``request`` (128 bytes) against ``memory``; return the 32-byte response.

        A handler never raises for bad input: every problem becomes an error status in
        the response, as on the device.
        """
        ...


def null_service(request: bytes, memory: DeviceMemory) -> bytes:
    """The NULL service: an OK response and nothing else (DPDK's firmware probe)."""
    return make_response(request)


def unsupported_service(request: bytes, memory: DeviceMemory) -> bytes:
    """Any service this device does not implement: UNSUPPORTED_REQUEST status."""
    return make_response(request, Status.UNSUPPORTED_REQUEST)
