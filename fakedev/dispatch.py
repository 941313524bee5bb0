"""Dispatch of consumed requests to services.

The device model reads the new slots of a request ring as one ``(n, msg_size)`` byte
array, groups the rows by ``service_type`` (request byte 2) and gives each group to the
handler registered for that type. A handler with a ``process_batch`` method takes the
whole group as an array (the NULL service here does); any other handler is called once
per request with its bytes (the :class:`fakedev.services.ServiceHandler` protocol).

A handler never makes the device stop. A :class:`~fakedev.memory.DmaFault` becomes an
endpoint-error response (docs/hardware.md#response: ``ERR_CODE_ENDPOINT_ERROR`` = -17, with the
service's status bit set). Any other exception is a **fakedev defect**: a bug of the fake,
which must never pass for a firmware status. The request still gets an answer, so the
host is not left waiting, but one no device gives (:func:`defect_response`: the
service's status bit and :data:`qathw.emulated.DEFECT_ERROR_CODE`), and the exception
goes to the device's ``on_defect`` (traceback to the log, text and count to the control
page). A ``process_batch`` that raises answers *every* request of its group so: the group
is never re-run one by one, because the handler may already have executed part of it (in
place, twice is wrong). Engine code that catches its own failure on one request answers
it with :func:`defect_response` too; the defect reaches the device running the request
through :func:`report_defect`.

Responses are made by :mod:`fakedev.wire` (:func:`~fakedev.wire.make_response`, and
:func:`~fakedev.wire.responses_for` for a group as an array), defect responses included.

The registry (:func:`default_handlers`): NULL -> :data:`NULL_SERVICE`, plus the engine's
``handlers()`` (LA, COMP); unknown types -> ``unsupported_service``. It is a constructor
argument of the device model.

A bank serves only its ring-to-service-map service (docs/hardware.md#pfvf-mailbox): the
arbiter hands its rings to the engines loaded with that service's firmware, so a COMP
request on a SYM bank is never deflated. :meth:`Dispatcher.for_bank` gives each bank a
dispatcher that answers requests of any other service type with the service's error bit
and UNSUPPORTED_REQUEST, unexecuted (:func:`wrong_bank_response`). The NULL service runs
anywhere (it is the fake's own probe). A generation without a map (gen2) serves every
service on every bank.
"""

from __future__ import annotations

import logging
import os
import sysconfig
import traceback
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import Protocol, runtime_checkable

import numpy as np

from fakedev import wire
from fakedev.memory import DeviceMemory, DmaFault
from fakedev.services import ServiceHandler, null_service, unsupported_service
from fakedev.wire import Bytes2D as Bytes2D  # re-exported, as before the move to wire
from fakedev.wire import make_response
from fakedev.wire import responses_for as responses_for  # likewise
from qathw import emulated
from qathw.fw.common import RESP_DEFAULT_SZ, ErrCode, ServiceType, Status
from qathw.ids import Generation
from qathw.transport.pfvf import RingService

DefectSink = Callable[[BaseException], None]

log = logging.getLogger("fakedev")

# The device whose dispatcher is running requests in this thread: where engine code that
# answers its own failure with a defect response hands the exception.
_defect_sink: ContextVar[DefectSink | None] = ContextVar("fakedev_defect_sink", default=None)


@runtime_checkable
class BatchServiceHandler(Protocol):
    """A handler that also takes a whole group of requests of one ring at once."""

    def __call__(self, request: bytes, memory: DeviceMemory) -> bytes: ...

    def process_batch(self, requests: Bytes2D, memory: DeviceMemory) -> Bytes2D:
        """Execute every row of ``requests``; return one 32-byte response row per request."""
        ...


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


class _WrongBank:
    """A service its bank does not serve: every request refused, none executed."""

    def __call__(self, request: bytes, memory: DeviceMemory) -> bytes:
        return wrong_bank_response(request)

    def process_batch(self, requests: Bytes2D, memory: DeviceMemory) -> Bytes2D:
        status = service_error_status(int(wire.service_types(requests)[0]))
        return responses_for(requests, status | Status.UNSUPPORTED_REQUEST)


NULL_SERVICE = _NullService()
UNSUPPORTED_SERVICE = _UnsupportedService()
WRONG_BANK = _WrongBank()


def default_handlers(
    generation: Generation = Generation.GEN4, capabilities: int | None = None
) -> dict[int, ServiceHandler]:
    """NULL, plus the engine's LA and COMP handlers (fresh ones: each keeps its caches).

    Args:
        generation: the endpoint's generation (what its slices run).
        capabilities: the capability word it reports (``None``: all its generation has).
    """
    # Imported here: the engine's handlers import this module for defect responses.
    from fakedev import engine

    handlers: dict[int, ServiceHandler] = {int(ServiceType.NULL): NULL_SERVICE}
    for service, handler in engine.handlers(generation, capabilities).items():
        handlers[int(service)] = handler
    return handlers


# What each ring-to-service-map entry lets a bank run (adf_cfg_common.h; CRYPTO is both).
_SERVED: dict[RingService, frozenset[int]] = {
    RingService.UNUSED: frozenset({int(ServiceType.NULL)}),
    RingService.CRYPTO: frozenset(
        {int(ServiceType.NULL), int(ServiceType.LA), int(ServiceType.PKE)}
    ),
    RingService.SYM: frozenset({int(ServiceType.NULL), int(ServiceType.LA)}),
    RingService.ASYM: frozenset({int(ServiceType.NULL), int(ServiceType.PKE)}),
    RingService.COMP: frozenset({int(ServiceType.NULL), int(ServiceType.COMP)}),
}


def served_types(service: RingService | None) -> frozenset[int] | None:
    """The ``service_type`` values a bank serving ``service`` runs (``None``: all)."""
    return None if service is None else _SERVED[service]


def wrong_bank_response(request: bytes | memoryview) -> bytes:
    """The answer to a request of a service its bank does not serve: not executed."""
    svc = wire.service_type(request)
    return make_response(request, service_error_status(svc) | Status.UNSUPPORTED_REQUEST)


def service_error_status(service_type: int) -> int:
    """The ``comn_status`` bit a failure of ``service_type`` sets (docs/hardware.md#response)."""
    if service_type == ServiceType.LA:
        return int(Status.CRYPTO)
    if service_type in (ServiceType.COMP, ServiceType.COMP_CHAIN):
        return int(Status.CMP)
    if service_type == ServiceType.PKE:
        return int(Status.PKE)
    return int(Status.INVALID_PARAM)


def endpoint_error_response(request: bytes | memoryview) -> bytes:
    """The response to a request whose addresses leave device memory (a DMA fault)."""
    svc = wire.service_type(request)
    if svc in (ServiceType.COMP, ServiceType.COMP_CHAIN):
        return make_response(request, Status.CMP | Status.XLAT, cmp_err=ErrCode.ENDPOINT_ERROR)
    return make_response(request, service_error_status(svc), cmp_err=ErrCode.ENDPOINT_ERROR)


# Where the standard library and installed packages live: frames there are a library's.
_LIBRARY_DIRS = tuple(
    {
        os.path.join(path, "")
        for name in ("stdlib", "platstdlib", "purelib", "platlib")
        for path in (sysconfig.get_path(name), os.path.realpath(sysconfig.get_path(name)))
    }
)


def _in_library(filename: str) -> bool:
    return filename.startswith(_LIBRARY_DIRS) or filename.startswith("<frozen ")


def defect_text(exc: BaseException) -> str:
    """Where fakedev failed and how: ``module:function:line: Type: message``.

    The place is the innermost frame of code that is not a library's (the standard
    library's or an installed package's; fakedev counts as its own even when installed),
    so that a library refusing fakedev's call names fakedev's line; the full traceback is
    in the log. The text is printable ASCII, short enough for the control page, and cut
    in the message, never in the place.
    """
    where = inner = ""
    for frame, line in traceback.walk_tb(exc.__traceback__):
        module = str(frame.f_globals.get("__name__", "?"))
        inner = f"{module}:{frame.f_code.co_name}:{line}"
        if module.partition(".")[0] == "fakedev" or not _in_library(frame.f_code.co_filename):
            where = inner
    message = " ".join(str(exc).split())
    text = f"{where or inner or '?'}: {type(exc).__name__}" + (f": {message}" if message else "")
    return emulated.clean_text(text.encode("utf-8", "replace"), emulated.DEFECT_TEXT_LEN - 1)


def report_defect(exc: BaseException) -> None:
    """Hand ``exc``, a failure of fakedev's own code, to the device running the request.

    Outside a dispatcher (an engine handler called directly) it is logged with its
    traceback instead.
    """
    sink = _defect_sink.get()
    if sink is not None:
        sink(exc)
    else:
        log.error("fakedev defect: %s", defect_text(exc), exc_info=exc)


def defect_response(request: bytes | memoryview, exc: BaseException) -> bytes:
    """Report ``exc`` as a fakedev defect; the response that tells the host so.

    The response carries the service's status bit (an error to any host) and
    :data:`qathw.emulated.DEFECT_ERROR_CODE` in both error bytes, which no firmware writes.
    """
    report_defect(exc)
    code = emulated.DEFECT_ERROR_CODE
    status = service_error_status(wire.service_type(request))
    return make_response(request, status, cmp_err=code, xlat_err=code)


def defect_responses(requests: Bytes2D, exc: BaseException) -> Bytes2D:
    """:func:`defect_response` for every row of a group of one service (one report)."""
    report_defect(exc)
    code = emulated.DEFECT_ERROR_CODE
    status = service_error_status(int(wire.service_types(requests)[0]))
    return responses_for(requests, status, cmp_err=code, xlat_err=code)


class Dispatcher:
    """Runs a batch of requests of one ring through the registered handlers.

    Args:
        handlers: ``service_type`` -> handler; unknown types are unsupported.
        memory: device memory, handed to every handler.
        on_defect: called with the exception when fakedev's own code fails on a request
            (anything but a DMA fault); the device logs and records it.
        served: the ``service_type`` values this dispatcher's bank runs (``None``: all);
            see :meth:`for_bank`.
    """

    def __init__(
        self,
        handlers: Mapping[int, ServiceHandler],
        memory: DeviceMemory,
        on_defect: DefectSink,
        served: frozenset[int] | None = None,
    ) -> None:
        self._handlers = dict(handlers)
        self._memory = memory
        self._on_defect = on_defect
        self._served = served

    def for_bank(self, service: RingService | None) -> Dispatcher:
        """A dispatcher for a bank serving ``service`` (``None``: no map, every service).

        It shares this one's handlers (and so their caches) and memory.
        """
        return Dispatcher(self._handlers, self._memory, self._on_defect, served_types(service))

    def handler(self, service_type: int) -> ServiceHandler:
        if self._served is not None and service_type not in self._served:
            return WRONG_BANK
        return self._handlers.get(service_type, UNSUPPORTED_SERVICE)

    def execute(self, requests: Bytes2D) -> Bytes2D:
        """Responses, in request order, for every row of ``requests``."""
        token = _defect_sink.set(self._on_defect)
        try:
            n = requests.shape[0]
            services = wire.service_types(requests)
            first = int(services[0])
            if n == 1 or bool((services == first).all()):
                return self._run_group(first, requests)
            out = np.empty((n, RESP_DEFAULT_SZ), dtype=np.uint8)
            for svc in np.unique(services):
                rows = np.flatnonzero(services == svc)
                out[rows] = self._run_group(int(svc), requests[rows])
            return out
        finally:
            _defect_sink.reset(token)

    def execute_one(self, request: bytes) -> bytes:
        """The 32-byte response to one request."""
        token = _defect_sink.set(self._on_defect)
        try:
            return self._run_one(self.handler(wire.service_type(request)), request)
        finally:
            _defect_sink.reset(token)

    def _run_group(self, service_type: int, requests: Bytes2D) -> Bytes2D:
        handler = self.handler(service_type)
        batch = getattr(handler, "process_batch", None)  # (isinstance on a Protocol is slow)
        if batch is not None:
            try:
                return batch(requests, self._memory)  # type: ignore[no-any-return]
            except Exception as exc:
                # Never re-run the group one by one: the handler may have executed some
                # requests already, and an in-place request run twice is transformed
                # twice. Every request of the group gets a defect response.
                return defect_responses(requests, exc)
        out = np.empty((requests.shape[0], RESP_DEFAULT_SZ), dtype=np.uint8)
        for i in range(requests.shape[0]):
            out[i] = np.frombuffer(self._run_one(handler, requests[i].tobytes()), np.uint8)
        return out

    def _run_one(self, handler: ServiceHandler, request: bytes) -> bytes:
        try:
            response = handler(request, self._memory)
            if len(response) != RESP_DEFAULT_SZ:
                raise ValueError(
                    f"service {wire.service_type(request)} handler returned {len(response)} bytes, "
                    f"not {RESP_DEFAULT_SZ}"
                )
        except DmaFault:
            return endpoint_error_response(request)
        except Exception as exc:  # the device never stops for a bug of its own
            return defect_response(request, exc)
        return response
