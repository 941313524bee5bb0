"""Running the device model: in a background thread, or as its own process.

Both busy-poll with an adaptive back-off: while there is work the loop steps without
pause; after a run of idle steps it starts sleeping, a little longer each time up to a
short cap (gaps in traffic cost little latency), and once idle for a while up to a longer
one, so an idle backend does not burn a core; the first step that finds work resets it.
In a thread the spinning phase yields the GIL every step (``sleep(0)``), so the host
thread in the same process keeps running.

:func:`serve` is the process form (``python -m fakedev serve``): it claims the endpoint in
the host-side backend lock (:class:`~fakedev.endpoint_file.BackendLock`) and the control
page (features, pid, new epoch, backend state InitWait, Connected once a frontend has
handshaken: :meth:`~fakedev.device.Device.connect`), serves the endpoint's ring
interrupts (:mod:`fakedev.irq`), increments the heartbeat while it runs, and on SIGTERM or
SIGINT goes to state Closing, then leaves state Closed and exits cleanly. SIGUSR1 injects
a device restart and SIGUSR2 a fatal error (``python -m fakedev inject``). A defect
(fakedev's own code failing on a request) is logged with its traceback, on stderr unless
the caller configured logging.
If the endpoint's memory goes away under it (the file truncated by someone else), the
process says so on stderr and exits 1 instead of dying of SIGBUS.
"""

from __future__ import annotations

import ctypes
import faulthandler
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import FrameType, TracebackType

from fakedev.device import Device, Fault, Presence
from fakedev.irq import InterruptServer
from fakedev.services import ServiceHandler

log = logging.getLogger("fakedev")

INJECT_SIGNALS = {signal.SIGUSR1: Fault.RESTART, signal.SIGUSR2: Fault.FATAL}

_SignalHandler = ctypes.CFUNCTYPE(None, ctypes.c_int)
_sigbus_handlers: list[object] = []  # a C handler must outlive its installation


def exit_on_sigbus(path: str | os.PathLike[str]) -> None:
    """From now on, SIGBUS (memory of a mapped file gone) writes a line and exits 1.

    A Python-level handler cannot do it: it runs only after the faulting access, which the
    kernel restarts, faulting again. faulthandler's would dump and re-raise: a core.
    The handler is a ctypes callback run in the faulting thread, which holds the GIL.
    """
    message = (
        f"fakedev: the memory of {path} is gone (SIGBUS): the file was truncated or its "
        f"filesystem is out of space; recreate it with 'python -m fakedev create {path} --force'\n"
    ).encode()

    def on_sigbus(signum: int) -> None:
        os.write(2, message)
        os._exit(1)

    faulthandler.disable()
    handler = _SignalHandler(on_sigbus)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.signal.restype = ctypes.c_void_p
    libc.signal.argtypes = [ctypes.c_int, _SignalHandler]
    libc.signal(signal.SIGBUS, handler)
    _sigbus_handlers.append(handler)


@dataclass
class Backoff:
    """When an idle loop starts sleeping, and for how long.

    Attributes:
        spin_steps: idle steps before the first sleep.
        first_sleep: the first sleep, seconds; each next one doubles ...
        max_sleep: ... up to this, while the idle spell is short (traffic with gaps) ...
        long_idle: ... and after this many seconds of idleness ...
        idle_sleep: ... up to this (a backend nobody uses costs next to nothing).
    """

    spin_steps: int = 2000
    first_sleep: float = 20e-6
    max_sleep: float = 200e-6
    long_idle: float = 0.1
    idle_sleep: float = 2e-3


def run(
    device: Device,
    stop: Callable[[], bool],
    *,
    backoff: Backoff | None = None,
    yield_each_step: bool = False,
    between_steps: Callable[[], None] | None = None,
) -> None:
    """Step ``device`` until ``stop()`` is true.

    Args:
        device: the device model.
        stop: checked after every step.
        backoff: idle policy.
        yield_each_step: release the GIL after every idle step (thread mode).
        between_steps: called after every step (signal-driven fault injection).
    """
    policy = backoff or Backoff()
    idle = 0
    sleep = policy.first_sleep
    idle_since = 0.0
    step = device.step
    while not stop():
        if step():
            idle = 0
            sleep = policy.first_sleep
        else:
            idle += 1
            if idle > policy.spin_steps:
                if idle == policy.spin_steps + 1:
                    idle_since = time.monotonic()
                time.sleep(sleep)
                cap = policy.max_sleep
                if time.monotonic() - idle_since > policy.long_idle:
                    cap = policy.idle_sleep
                sleep = min(sleep * 2, cap)
            elif yield_each_step:
                time.sleep(0)
        if between_steps is not None:
            between_steps()


class DeviceThread:
    """The device model stepping in a background thread.

    Use as a context manager; :meth:`stop` joins the thread and re-raises anything the
    loop raised (it should raise nothing: a bug in the model is a test failure).

    Args:
        path: the endpoint file.
        handlers / ring_service_map / presence: as for :class:`~fakedev.device.Device`.
        backoff: idle policy.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        handlers: Mapping[int, ServiceHandler] | None = None,
        ring_service_map: int | None = None,
        backoff: Backoff | None = None,
        presence: Presence | None = None,
    ) -> None:
        kwargs: dict[str, object] = {"handlers": handlers, "presence": presence}
        if ring_service_map is not None:
            kwargs["ring_service_map"] = ring_service_map
        self.device = Device(path, **kwargs)  # type: ignore[arg-type]
        self._backoff = backoff
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="fakedev", daemon=True)
        self._irq: InterruptServer | None = None

    def _main(self) -> None:
        try:
            run(self.device, self._stop.is_set, backoff=self._backoff, yield_each_step=True)
        except BaseException as exc:
            self._error = exc

    def start(self) -> DeviceThread:
        """Claim the endpoint (InitWait), serve its interrupts and start stepping.

        Raises:
            EndpointFileError: another live backend serves the endpoint (the device is
                closed, that backend untouched).
        """
        try:
            self.device.connect()
            self._irq = InterruptServer(self.device).start()
        except BaseException:
            self.device.close()
            raise
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop stepping, leave the endpoint Closed, close the device."""
        if self._thread.is_alive():
            self.device.closing()
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        if self._irq is not None:
            self._irq.stop()
            self._irq = None
        self.device.disconnect()
        self.device.close()
        if self._error is not None:
            raise RuntimeError("the device thread failed") from self._error

    def __enter__(self) -> DeviceThread:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def serve(
    path: str | os.PathLike[str],
    *,
    handlers: Mapping[int, ServiceHandler] | None = None,
    ring_service_map: int | None = None,
    backoff: Backoff | None = None,
    ready: Callable[[Device], None] | None = None,
) -> int:
    """Serve an endpoint in this process until SIGTERM or SIGINT.

    Args:
        path: the endpoint file.
        handlers / ring_service_map: as for :class:`~fakedev.device.Device`.
        backoff: idle policy.
        ready: called once the endpoint is claimed (tests, the CLI's readiness line).

    Returns:
        0 after a clean shutdown.

    Raises:
        EndpointFileError: the file is not an endpoint, or another backend serves it.
    """
    kwargs: dict[str, object] = {"handlers": handlers}
    if ring_service_map is not None:
        kwargs["ring_service_map"] = ring_service_map
    stopping = False
    pending: list[Fault] = []

    def on_stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    def on_inject(signum: int, frame: FrameType | None) -> None:
        pending.append(INJECT_SIGNALS[signal.Signals(signum)])

    # Handlers first: once the lock is taken, inject may signal this process.
    previous = {
        sig: signal.signal(sig, handler)
        for sig, handler in (
            (signal.SIGTERM, on_stop),
            (signal.SIGINT, on_stop),
            (signal.SIGUSR1, on_inject),
            (signal.SIGUSR2, on_inject),
        )
    }
    try:
        device = Device(path, **kwargs)  # type: ignore[arg-type]
        try:
            device.connect()
            irq = InterruptServer(device).start()
        except BaseException:
            device.close()
            raise
    except BaseException:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        raise

    def inject_pending() -> None:
        while pending:
            device.inject(pending.pop(0))

    try:
        log.info("serving %s as pid %d", path, os.getpid())
        if ready is not None:
            ready(device)
        run(device, lambda: stopping, backoff=backoff, between_steps=inject_pending)
    finally:
        device.closing()
        irq.stop()
        device.disconnect()
        device.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log.info("stopped serving %s", path)
    return 0
