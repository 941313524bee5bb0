"""asyncio: ``await instance.perform_async(op)`` without blocking the event loop.

A :class:`LoopDriver` drives one channel's completions from one event loop while any
awaited work is pending (:mod:`~qathw.service.calls` awaits ops and batches with it):

* epoll-mode instances (``IsPolled = 2``): the ring interrupt's eventfd is watched with
  ``loop.add_reader``; the loop polls when the device signals, plus a slow timer that
  polls anyway (device events such as a restart come through the mailbox, not as ring
  interrupts);
* polled instances (``IsPolled = 1``): a task polls, yielding to the loop after every
  empty poll, and backs off to short sleeps while nothing arrives.

The driver stops when nothing awaited is pending; the next await starts it again.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import TypeVar

from qathw.errors import DeviceRestartError, RingFullError
from qathw.service.completion import Channel, Handle, Work

T = TypeVar("T")
R = TypeVar("R")

_SPIN = 100  # empty polls before the first nap
_NAP_MAX = 1e-3
_IRQ_TIMER = 0.05

_drivers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, LoopDriver]] = (
    weakref.WeakKeyDictionary()
)


class LoopDriver:
    """Polls one channel from one event loop while awaited work is pending."""

    def __init__(self, channel: Channel, loop: asyncio.AbstractEventLoop) -> None:
        self.channel = channel
        self.loop = loop
        self.pending = 0
        self._task: asyncio.Task[None] | None = None
        self._reader = False
        self._timer: asyncio.TimerHandle | None = None
        self._wake = asyncio.Event()

    @classmethod
    def get(cls, channel: Channel) -> LoopDriver:
        loop = asyncio.get_running_loop()
        per_loop = _drivers.setdefault(loop, {})
        driver = per_loop.get(id(channel))
        if driver is None or driver.channel is not channel:
            driver = cls(channel, loop)
            per_loop[id(channel)] = driver
        return driver

    def _start(self) -> None:
        irq = self.channel.interrupt
        if irq is not None:
            if not self._reader:
                self.loop.add_reader(irq.fileno(), self._poll_now)
                self._reader = True
                self._arm_timer()
        elif self._task is None or self._task.done():
            self._task = self.loop.create_task(self._spin())

    def _stop(self) -> None:
        irq = self.channel.interrupt
        if self._reader and irq is not None and not irq.closed:
            self.loop.remove_reader(irq.fileno())
        self._reader = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _arm_timer(self) -> None:
        self._timer = self.loop.call_later(_IRQ_TIMER, self._on_timer)

    def _on_timer(self) -> None:
        self._poll_now()
        if self._reader:
            self._arm_timer()

    def _poll_now(self) -> None:
        try:
            self.channel.poll()
        except Exception as exc:  # surfaced through the futures, not the loop
            self.loop.call_exception_handler({"message": "qathw poll failed", "exception": exc})
        if self.pending == 0:
            self._stop()

    async def _spin(self) -> None:
        idle = 0
        nap = 20e-6
        while self.pending:
            if self.channel.poll():
                idle, nap = 0, 20e-6
                await asyncio.sleep(0)
                continue
            idle += 1
            if idle < _SPIN:
                await asyncio.sleep(0)
            else:
                await asyncio.sleep(nap)
                nap = min(nap * 2, _NAP_MAX)

    async def run(self, work: Work[T]) -> Handle[T]:
        """Submit one op's ``work`` and await its handle, done (waits for ring room).

        Raises:
            DeviceFatalError: the device failed.
        """

        def send(done: Callable[[Handle[T]], object]) -> Handle[T]:
            return self.channel.submit(work, single=True, callback=done, block=False)

        return await self._run(send)

    async def run_batch(self, work: Work[T]) -> Handle[list[T]]:
        """As :meth:`run`, for a batch's work (the handle's result is a list)."""

        def send(done: Callable[[Handle[list[T]]], object]) -> Handle[list[T]]:
            return self.channel.submit(work, single=False, callback=done, block=False)

        return await self._run(send)

    async def _run(self, send: Callable[[Callable[[Handle[R]], object]], Handle[R]]) -> Handle[R]:
        """Call ``send(callback)`` until the ring takes the work, then await the callback."""
        future: asyncio.Future[Handle[R]] = self.loop.create_future()

        def done(handle: Handle[R]) -> None:
            self.pending -= 1
            if not future.done():
                future.set_result(handle)

        self.pending += 1
        try:
            while True:
                try:
                    send(done)
                    break
                except (RingFullError, DeviceRestartError):
                    self._start()  # poll meanwhile, then try again
                    await asyncio.sleep(0)
        except BaseException:
            self.pending -= 1
            raise
        self._start()
        return await future
