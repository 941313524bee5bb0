"""Dispatch of consumed requests to services, and responses built as arrays.

The device model reads the new slots of a request ring as one ``(n, msg_size)`` byte
array, groups the rows by ``service_type`` (request byte 2) and gives each group to the
handler registered for that type. A handler with a ``process_batch`` method takes the
whole group as an array (the NULL service here does); any other handler is called once
per request with its bytes (the :class:`fakedev.services.ServiceHandler` protocol).

A handler never makes the device stop: a :class:`~fakedev.memory.DmaFault` becomes an
endpoint-error response (reference §2.3: ``ERR_CODE_ENDPOINT_ERROR`` = -17, with the
service's status bit set), and any other exception becomes an error response and a loud
device error in the control page. A ``process_batch`` that raises answers *every* request
of its group with that internal-error response: the group is never re-run one by one,
because the handler may already have executed part of it (in place, twice is wrong).

The registry (:func:`default_handlers`): NULL -> :data:`NULL_SERVICE`; everything else ->
``unsupported_service`` unless :mod:`fakedev.engine` exists, in which case its
``handlers()`` are added (LA, COMP). It is a constructor argument of the device model.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from fakedev.memory import DeviceMemory, DmaFault
from fakedev.services import ServiceHandler, make_response, null_service, unsupported_service
from qathw.fw.common import (
    HDR_FLAG_VALID,
    RESP_DEFAULT_SZ,
    ErrCode,
    RespServiceId,
    ServiceType,
    Status,
)

Bytes2D = npt.NDArray[np.uint8]  # (n, msg_size) requests or (n, 32) responses


@runtime_checkable
class BatchServiceHandler(Protocol):
    """A handler that also takes a whole group of requests of one ring at once."""

    def __call__(self, request: bytes, memory: DeviceMemory) -> bytes: ...

    def process_batch(self, requests: Bytes2D, memory: DeviceMemory) -> Bytes2D:
        """Execute every row of ``requests``; return one 32-byte response row per request."""
        ...


@functools.lru_cache(maxsize=64)
def _response_template(status: int, hdr_flags: int, cmp_err: int, xlat_err: int) -> Bytes2D:
    row = np.zeros(RESP_DEFAULT_SZ, dtype=np.uint8)
    row[1] = RespServiceId.CPM_FW
    row[3] = HDR_FLAG_VALID | hdr_flags
    row[4] = xlat_err & 0xFF
    row[5] = cmp_err & 0xFF
    row[6] = status & 0xFF
    row.flags.writeable = False
    return row


def responses_for(
    requests: Bytes2D,
    status: int = 0,
    *,
    hdr_flags: int = 0,
    cmp_err: int = 0,
    xlat_err: int = 0,
) -> Bytes2D:
    """The array form of :func:`fakedev.services.make_response`: one response row per request.

    Echoes ``service_type`` as ``response_type``, ``cmd_id`` and the opaque cookie (request
    bytes 24-31); sets the valid bit and ``service_id`` = CPM_FW; bytes 16-31 are zero.
    """
    out = np.empty((requests.shape[0], RESP_DEFAULT_SZ), dtype=np.uint8)
    out[:] = _response_template(int(status), hdr_flags, cmp_err, xlat_err)
    out[:, 2] = requests[:, 2]  # response_type = service_type
    out[:, 7] = requests[:, 1]  # cmd_id
    out[:, 8:16] = requests[:, 24:32]  # opaque
    return out


class _NullService:
    """The NULL service: an OK response and nothing else; batches handled as one array."""

    def __call__(self, request: bytes, memory: DeviceMemory) -> bytes:
        return null_service(request, memory)

    def process_batch(self, requests: Bytes2D, memory: DeviceMemory) -> Bytes2D:
        return responses_for(requests)


class _UnsupportedService:
    """Any service without an implementation: UNSUPPORTED_REQUEST, for a whole batch at once."""

    def __call__(self, request: bytes, memory: DeviceMemory) -> bytes:
        return unsupported_service(request, memory)

    def process_batch(self, requests: Bytes2D, memory: DeviceMemory) -> Bytes2D:
        return responses_for(requests, Status.UNSUPPORTED_REQUEST)


NULL_SERVICE = _NullService()
UNSUPPORTED_SERVICE = _UnsupportedService()

ENGINE_MODULE = "fakedev.engine"


def default_handlers() -> dict[int, ServiceHandler]:
    """NULL, plus ``fakedev.engine.handlers()`` when that package provides it.

    An engine that exists but fails to import, or whose ``handlers()`` fails, raises: a
    broken engine must not silently turn into "unsupported".
    """
    handlers: dict[int, ServiceHandler] = {int(ServiceType.NULL): NULL_SERVICE}
    if importlib.util.find_spec(ENGINE_MODULE) is None:
        return handlers
    engine: Any = importlib.import_module(ENGINE_MODULE)
    provide = getattr(engine, "handlers", None)
    if provide is None:
        return handlers  # a package without its entry point yet (work in progress)
    for service, handler in provide().items():
        handlers[int(service)] = handler
    return handlers


def service_error_status(service_type: int) -> int:
    """The ``comn_status`` bit a failure of ``service_type`` sets (reference §2.3.1)."""
    if service_type == ServiceType.LA:
        return int(Status.CRYPTO)
    if service_type in (ServiceType.COMP, ServiceType.COMP_CHAIN):
        return int(Status.CMP)
    if service_type == ServiceType.PKE:
        return int(Status.PKE)
    return int(Status.INVALID_PARAM)


def endpoint_error_response(request: bytes | memoryview) -> bytes:
    """The response to a request whose addresses leave device memory (a DMA fault)."""
    svc = request[2]
    if svc in (ServiceType.COMP, ServiceType.COMP_CHAIN):
        return make_response(request, Status.CMP | Status.XLAT, cmp_err=ErrCode.ENDPOINT_ERROR)
    return make_response(request, service_error_status(svc), cmp_err=ErrCode.ENDPOINT_ERROR)


def internal_error_response(request: bytes | memoryview) -> bytes:
    """The response to a request whose handler failed unexpectedly (a bug in the fake)."""
    return make_response(request, service_error_status(request[2]), cmp_err=ErrCode.FATAL_ERROR)


class Dispatcher:
    """Runs a batch of requests of one ring through the registered handlers.

    Args:
        handlers: ``service_type`` -> handler; unknown types are unsupported.
        memory: device memory, handed to every handler.
        on_internal_error: called with a message when a handler raises something other
            than a DMA fault (the device records it in the control page).
    """

    def __init__(
        self,
        handlers: Mapping[int, ServiceHandler],
        memory: DeviceMemory,
        on_internal_error: Callable[[str], None],
    ) -> None:
        self._handlers = dict(handlers)
        self._memory = memory
        self._on_error = on_internal_error

    def handler(self, service_type: int) -> ServiceHandler:
        return self._handlers.get(service_type, UNSUPPORTED_SERVICE)

    def execute(self, requests: Bytes2D) -> Bytes2D:
        """Responses, in request order, for every row of ``requests``."""
        n = requests.shape[0]
        services = requests[:, 2]
        first = int(services[0])
        if n == 1 or bool((services == first).all()):
            return self._run_group(first, requests)
        out = np.empty((n, RESP_DEFAULT_SZ), dtype=np.uint8)
        for svc in np.unique(services):
            rows = np.flatnonzero(services == svc)
            out[rows] = self._run_group(int(svc), requests[rows])
        return out

    def execute_one(self, request: bytes) -> bytes:
        """The 32-byte response to one request."""
        return self._run_one(self.handler(request[2]), request)

    def _run_group(self, service_type: int, requests: Bytes2D) -> Bytes2D:
        handler = self.handler(service_type)
        batch = getattr(handler, "process_batch", None)  # (isinstance on a Protocol is slow)
        if batch is not None:
            try:
                return batch(requests, self._memory)  # type: ignore[no-any-return]
            except Exception as exc:
                # Never re-run the group one by one: the handler may have executed some
                # requests already, and an in-place request run twice is transformed
                # twice. Every request of the group gets an internal-error response.
                self._on_error(
                    f"service {service_type} batch handler failed on {requests.shape[0]} "
                    f"requests: {type(exc).__name__}: {exc}"
                )
                return responses_for(
                    requests, service_error_status(service_type), cmp_err=ErrCode.FATAL_ERROR
                )
        out = np.empty((requests.shape[0], RESP_DEFAULT_SZ), dtype=np.uint8)
        for i in range(requests.shape[0]):
            out[i] = np.frombuffer(self._run_one(handler, requests[i].tobytes()), np.uint8)
        return out

    def _run_one(self, handler: ServiceHandler, request: bytes) -> bytes:
        try:
            response = handler(request, self._memory)
        except DmaFault:
            return endpoint_error_response(request)
        except Exception as exc:  # the device never stops for a handler's bug
            self._on_error(f"service {request[2]} handler failed: {type(exc).__name__}: {exc}")
            return internal_error_response(request)
        if len(response) != RESP_DEFAULT_SZ:
            self._on_error(f"service {request[2]} handler returned {len(response)} bytes, not 32")
            return internal_error_response(request)
        return response
