"""How the device model hands requests to services, and how responses are made.

The device model consumes requests from a ring in order and gives each to the handler of
its ``service_type``; a handler returns the 32-byte response. Handlers for LA and COMP
live in :mod:`fakedev.engine`; the NULL service and "unsupported" are here.

A handler processes one request; a handler may also offer ``process_batch`` to take many
requests of one ring at once (the NULL service does, with numpy), which the device model
uses when present.
"""

from __future__ import annotations

from typing import Protocol

from fakedev.memory import DeviceMemory
from qathw.fw.common import HDR_FLAG_VALID, RespServiceId, Status


class ServiceHandler(Protocol):
    """Executes one request of one service."""

    def __call__(self, request: bytes, memory: DeviceMemory) -> bytes:
        """Execute ``request`` (128 bytes) against ``memory``; return the 32-byte response.

        A handler never raises for bad input: every problem becomes an error status in
        the response, as on the device.
        """
        ...


def make_response(
    request: bytes | memoryview,
    status: int = 0,
    *,
    cmp_err: int = 0,
    xlat_err: int = 0,
    hdr_flags: int = 0,
    tail: bytes = b"",
) -> bytes:
    """The 32-byte response to ``request``.

    Echoes what the firmware echoes: ``response_type`` = the request's ``service_type``,
    ``cmd_id``, and the opaque cookie; sets the valid bit, ``service_id`` = CPM_FW.

    Args:
        request: the request (at least 32 bytes: header and opaque are read).
        status: the ``comn_status`` byte (:class:`qathw.fw.common.Status` bits).
        cmp_err: compression error code (signed byte).
        xlat_err: translator error code (signed byte).
        hdr_flags: response header flags besides the valid bit (CNV, ...).
        tail: up to 16 service-specific bytes for bytes 16-31.

    Returns:
        32 bytes.
    """
    if len(tail) > 16:
        raise ValueError("response tail is at most 16 bytes")
    head = bytes(
        (
            0,
            RespServiceId.CPM_FW,
            request[2],
            HDR_FLAG_VALID | hdr_flags,
            xlat_err & 0xFF,
            cmp_err & 0xFF,
            status & 0xFF,
            request[1],
        )
    )
    return head + bytes(request[24:32]) + tail.ljust(16, b"\0")


def null_service(request: bytes, memory: DeviceMemory) -> bytes:
    """The NULL service: an OK response and nothing else (DPDK's firmware probe)."""
    return make_response(request)


def unsupported_service(request: bytes, memory: DeviceMemory) -> bytes:
    """Any service this device does not implement: UNSUPPORTED_REQUEST status."""
    return make_response(request, Status.UNSUPPORTED_REQUEST)
