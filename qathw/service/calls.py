"""The call forms on a channel: ops and batches submitted, performed or awaited.

An instance's call forms (``instance.submit(op)``, ``perform``, ``perform_batch``,
``perform_async`` ...) and a session's own ``encrypt`` / ``digest`` / ``compress`` ... all
run here, on the session's channel. Each prepares the op
(:meth:`~qathw.service.operations.Op.prepare`) or the batch
(:func:`~qathw.service.batches.batch_work`) and hands the work to the channel, which owns
it from then on; when sending fails before the channel took it, the work is released
here (:meth:`~qathw.service.completion.Channel.submit` says which is which).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import TracebackType
from typing import TypeVar

from qathw.service import aio
from qathw.service.batches import batch_work
from qathw.service.completion import Channel, Handle, Work
from qathw.service.operations import Op

T = TypeVar("T")


class _Sending:
    """Releases work the channel did not take when sending it raises."""

    __slots__ = ("_channel", "_work")

    def __init__(self, channel: Channel, work: Work[object]) -> None:
        self._channel = channel
        self._work = work

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if error is not None and not self._channel.owns(self._work):
            self._work.release()


def submit(
    channel: Channel,
    op: Op[T],
    callback: Callable[[Handle[T]], object] | None = None,
    *,
    block: bool = True,
    timeout: float | None = None,
) -> Handle[T]:
    """Send ``op`` on ``channel`` (see ``Instance.submit``).

    Raises:
        RingFullError: no room and ``block`` is false.
        DeviceRestartError / DeviceFatalError: the device is restarting / failed.
        Exception: what preparing the op raised (nothing is left allocated).
    """
    work = op.prepare()
    with _Sending(channel, work):
        return channel.submit(work, single=True, callback=callback, block=block, timeout=timeout)


def submit_batch(
    channel: Channel,
    ops: Sequence[Op[T]],
    callback: Callable[[Handle[list[T]]], object] | None = None,
    *,
    block: bool = True,
    timeout: float | None = None,
) -> Handle[list[T]]:
    """Send ``ops`` on ``channel`` as one batch (see ``Instance.submit_batch``).

    Raises:
        ValueError: no ops.
        RingFullError / DeviceRestartError / DeviceFatalError: as :func:`submit`.
    """
    return submit_work(channel, batch_work(ops), callback, block=block, timeout=timeout)


def submit_work(
    channel: Channel,
    work: Work[T],
    callback: Callable[[Handle[list[T]]], object] | None = None,
    *,
    block: bool = True,
    timeout: float | None = None,
) -> Handle[list[T]]:
    """Send work already built as one batch (a session's many-call builds its own).

    The channel owns ``work`` once it takes it; if sending raises before that, ``work``
    is released here.

    Raises:
        RingFullError / DeviceRestartError / DeviceFatalError: as :func:`submit`.
    """
    with _Sending(channel, work):
        return channel.submit(work, single=False, callback=callback, block=block, timeout=timeout)


def perform(channel: Channel, op: Op[T], *, timeout: float | None = None) -> T:
    """Run ``op`` now: send it and poll ``channel`` until it is done.

    Raises:
        RequestTimeoutError: no response in ``timeout`` seconds (``None``: the channel's).
        Exception: the op's error (``RequestError``, ``InvalidTag`` ...).
    """
    return submit(channel, op, timeout=timeout).result(timeout)


async def run_async(channel: Channel, op: Op[T]) -> Handle[T]:
    """Send ``op`` and await its completion, the event loop polling meanwhile.

    Returns:
        The handle, done.
    """
    work = op.prepare()
    with _Sending(channel, work):
        return await aio.LoopDriver.get(channel).run(work)


async def run_batch_async(channel: Channel, ops: Sequence[Op[T]]) -> Handle[list[T]]:
    """Send ``ops`` as one batch and await its completion (see :func:`run_async`)."""
    work = batch_work(ops)
    with _Sending(channel, work):
        return await aio.LoopDriver.get(channel).run_batch(work)
