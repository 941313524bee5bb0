"""The completion engine: one ring pair's requests in flight, their handles and callbacks.

Every call form of an instance runs on a :class:`Channel` (one per ring pair):

* ``submit(op, callback=None)`` puts the op's request(s) on the ring and returns a
  :class:`Handle`; ``poll()`` takes responses, completes handles and runs callbacks;
* ``perform(op)`` is submit, then poll until that handle is done;
* a batch is one piece of work of many requests: one ring submit (one doorbell), one
  handle, results in order;
* the asyncio form (:mod:`qathw.service.aio`) polls from the event loop.

Cookies: each piece of work gets an id; request *i* of work *j* carries the opaque value
``j << 20 | i``, which the device echoes in the response, so responses are matched to
their work with array operations (responses of one ring come back in order, but the
table does not depend on it).

Ring full: the caller chooses. ``block=True`` is back-pressure: as much as fits is sent,
then the channel polls (completing other work and running callbacks) until the rest fits.
``block=False`` raises :class:`~qathw.errors.RingFullError` and sends nothing. A suspended
endpoint (its host asked, before a migration or a backend switch) is back-pressure too:
``block=True`` waits for the resume, ``block=False`` raises
:class:`~qathw.errors.DeviceSuspendedError` (a ``RingFullError``, retryable).

The replay rule (docs/api.md#the-replay-rule; this is the one place that applies it).
Requests in flight get no response when the function is replaced under them: a device
restart (RESTARTING on the mailbox, the function gone, or an emulated endpoint's restart
count moving — PF-style endpoints too), a backend that crashed and another that took the
file, a planned backend switch, a migration. The ring pair says how many were lost (after
taking every response the device had written); this channel then decides for each lost
request, once, and in the same way whatever the cause:

* **replayed** after the function is back, when replay is on (the instance's ``resubmit``
  flag, default on) and the request's input is known to be intact: out of place (the
  device only read the source), or staged by qathw from the caller's bytes (copied in
  again first). A request is replayed **once**: lost again, it fails (retryable);
* **failed** with :class:`~qathw.errors.DeviceRestartError` otherwise. An **in-place
  request on the caller's own device buffer** is never re-run: the device may have
  transformed part of it, and a replay would transform those bytes twice; its error has
  ``retryable`` false (check or refill the buffer first). With ``resubmit=False`` (the
  discard policy) every lost request fails, each error's ``retryable`` saying whether the
  same op may simply be submitted again (true unless in place on the caller's buffer).

Requests queued and not yet sent were not lost: they go once the function is back,
after the replays. No callback ever runs twice: a request has one outcome.

A fatal device error fails every request in flight or queued with
:class:`~qathw.errors.DeviceFatalError`; work that completed before it keeps its results
(``handle.result(return_exceptions=True)`` gives them, and ``result()`` raises only for
work of which an op failed). A real PF has neither a mailbox nor a control page, so its
restart is not seen: its requests end with :class:`~qathw.errors.RequestTimeoutError`.
On an emulated endpoint, a request the fake device's own code failed on ends with
:class:`~qathw.errors.FakedevDefectError` (:func:`qathw.service.status.defective`).

A channel, like the ring pair under it, is driven by one thread at a time.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Generic, Literal, Protocol, TypeVar, overload

import numpy as np
import numpy.typing as npt

from qathw.dma import DmaPool
from qathw.emulated import Defect
from qathw.errors import (
    DeviceFatalError,
    DeviceRestartError,
    DeviceSuspendedError,
    QatError,
    RequestTimeoutError,
    RingFullError,
    TransportError,
)
from qathw.fw.common import (
    REQ_OPAQUE_FIELD,
    REQ_OPAQUE_OFFSET,
    REQ_OPAQUE_SZ,
    RESP_DEFAULT_SZ,
    RESP_OPAQUE_FIELD,
    RESP_OPAQUE_OFFSET,
)
from qathw.service import offers
from qathw.service import status as st
from qathw.service.offers import EndpointOffer
from qathw.transport.interrupts import BankInterrupt
from qathw.transport.mailbox import PfEvent
from qathw.transport.ring import RESPONSE_DTYPE, RingPair, RingPairEvent, RingPairState

Rows = npt.NDArray[np.uint8]
T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
R_co = TypeVar("R_co", covariant=True)  # a handle's result: an op's, or a batch's list
INDEX_BITS = 20
MAX_WORK = 1 << INDEX_BITS  # requests in one piece of work
_INDEX_MASK = MAX_WORK - 1
_QUEUED, _SENT, _DONE = 0, 1, 2
log = logging.getLogger(__name__)
_ALL = (0,)
_put_cookie = REQ_OPAQUE_FIELD.pack_into
_get_cookie = RESP_OPAQUE_FIELD.unpack_from
_COOKIE_COLUMN = slice(REQ_OPAQUE_OFFSET, REQ_OPAQUE_OFFSET + REQ_OPAQUE_SZ)
_IRQ_WAIT = 0.05  # epoll mode: bounded waits, then poll anyway (device events, lost kicks)
_SPIN = 200  # empty polls before sleeping at all
_NAP_MAX = 1e-3


_NOTHING = np.empty(0, RESPONSE_DTYPE)
_yield = os.sched_yield


def _row(raw: bytes) -> Rows:
    return np.frombuffer(raw, np.uint8).reshape(1, RESP_DEFAULT_SZ)


class Work(Protocol[T_co]):
    """What an op (or a batch of ops) becomes when it is submitted; ``T_co``: an op's result.

    Attributes:
        n: requests.
        rows: the requests: one 128-byte ``bytearray`` when ``n`` is 1, else an
            ``(n, 128)`` array; the channel writes the opaque cookies into them.
    """

    @property
    def n(self) -> int: ...

    @property
    def rows(self) -> Rows | bytearray: ...

    def finish(
        self, responses: Rows | bytes, lost: dict[int, BaseException]
    ) -> Sequence[T_co | BaseException]:
        """One outcome per op (a result, or the exception the op raises), in order.

        Args:
            responses: the 32-byte response (``n`` = 1), or ``(n, 32)`` responses (rows
                in ``lost`` are not filled).
            lost: requests that got no response, and why.
        """
        ...

    def replayable(self, index: int) -> bool:
        """Whether request ``index`` may be sent again after a restart (see the rule)."""
        ...

    def restage(self, indices: Sequence[int]) -> None:
        """Prepare those requests for a replay (copy staged input in again)."""
        ...

    def release(self) -> None:
        """Free the DMA memory the work took (after :meth:`finish`). Idempotent."""
        ...


class Liveness(Protocol):
    """What an endpoint can tell of a device that does not answer (``Endpoint`` is one)."""

    def heartbeat(self) -> int | None:
        """A counter the device's backend moves while it runs; ``None``: none known."""
        ...

    def silence_hint(self, since: int | None = None) -> str | None:
        """The hint for a request not answered in time (``since``: :meth:`heartbeat` when
        the wait began); ``None``: nothing known."""
        ...


class Handle(Generic[R_co]):
    """A submitted op (or batch), its outcome once done.

    ``result()`` drives the instance's polling until the work is done, so a handle can be
    waited on without a separate poll loop. ``Handle[R]``: ``result()`` returns an ``R``, the
    op's result (a batch: the list of results).
    """

    __slots__ = ("_callback", "_channel", "_outcomes", "_single")

    def __init__(
        self,
        channel: Channel,
        single: bool,
        callback: Callable[[Handle[R_co]], object] | None,
    ) -> None:
        self._channel = channel
        self._single = single
        self._callback = callback
        self._outcomes: Sequence[object] | None = None

    def done(self) -> bool:
        """Whether every request has completed (successfully or not)."""
        return self._outcomes is not None

    @overload
    def result(
        self: Handle[list[T]], timeout: float | None = None, *, return_exceptions: bool
    ) -> list[T | BaseException]: ...

    @overload
    def result(
        self, timeout: float | None = None, *, return_exceptions: Literal[False] = False
    ) -> R_co: ...

    def result(self, timeout: float | None = None, *, return_exceptions: bool = False) -> object:
        """The op's result (a batch: the list of results, in order).

        Args:
            timeout: seconds to wait (``None``: the instance's default).
            return_exceptions: (batch) put each failed op's exception in the list instead
                of raising the first one.

        Raises:
            RequestTimeoutError: not done in time (the request stays in flight).
            Exception: the op's error (``RequestError``, ``InvalidTag``...).
        """
        outcomes = self._outcomes
        if outcomes is None:
            outcomes = self._wait(timeout)
        if self._single:
            value = outcomes[0]
            if isinstance(value, BaseException):
                raise value
            return value
        if not return_exceptions:
            for value in outcomes:
                if isinstance(value, BaseException):
                    raise value
        return list(outcomes)

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """The (first) exception of the work, or ``None`` if it succeeded."""
        for value in self._wait(timeout):
            if isinstance(value, BaseException):
                return value
        return None

    def _wait(self, timeout: float | None) -> Sequence[object]:
        if self._outcomes is None:
            self._channel.wait_until(self.done, timeout, settled=True)
        assert self._outcomes is not None
        return self._outcomes

    def __repr__(self) -> str:
        return f"<Handle {'done' if self.done() else 'pending'}>"


class _Job:
    """Work in the channel: which of its requests are queued, sent, done."""

    __slots__ = (
        "handle",
        "id",
        "lost",
        "n",
        "pending",
        "replayed",
        "resp",
        "sent",
        "single",
        "state",
        "work",
    )
    replayed: set[int]  # unset until a loss: the replay rule's, not the data path's

    def __init__(self, job_id: int, work: Work[object], handle: Handle[Any]) -> None:
        self.id = job_id
        self.work = work
        self.handle = handle
        self.n = work.n
        self.pending = self.n
        self.lost: dict[int, BaseException] = {}
        self.single = type(work.rows) is bytearray
        if self.single:
            self.state = None
            self.sent = False
            self.resp: Rows | bytes = b""
        else:
            self.state = np.zeros(self.n, np.int8)
            self.resp = np.empty((self.n, RESP_DEFAULT_SZ), np.uint8)

    def in_flight(self) -> list[int]:
        """Requests sent whose response has not come."""
        if self.state is None:
            return [0] if self.sent and self.pending else []
        sent: list[int] = np.flatnonzero(self.state == _SENT).tolist()
        return sent

    def mark(self, indices: Sequence[int] | npt.NDArray[np.intp], state: int) -> None:
        if self.state is None:
            self.sent = state == _SENT
        else:
            self.state[indices] = state


class Channel:
    """Requests on one ring pair: submit, poll, wait, restart policy.

    Args:
        pair: the ring pair.
        pool: DMA memory for this channel's buffers and descriptors.
        owner: the endpoint (buffers must come from its memory).
        name: how errors name the channel (``SSL0 sym``).
        interrupt: the ring's interrupt (epoll mode), or ``None`` (polled).
        resubmit: replay intact requests after a device restart (see the module rule).
        timeout: default seconds a wait may take (``None``: forever).
        defects: reads the endpoint's defect record (emulated endpoints keep one, and
            answer "fakedev failed here" with a code no firmware uses); ``None`` or a reader
            that finds no record leaves responses to the device status alone.
        offer: what the endpoint runs (sessions refuse the rest before sending);
            ``None``: a whole gen4 endpoint.
        liveness: what the endpoint can tell of a device that does not answer (an
            emulated endpoint's backend heartbeat; :class:`Liveness`), for the hint of a
            timeout; ``None``: a generic hint.
    """

    def __init__(
        self,
        pair: RingPair,
        pool: DmaPool,
        owner: object,
        *,
        name: str,
        interrupt: BankInterrupt | None = None,
        resubmit: bool = True,
        timeout: float | None = 30.0,
        defects: Callable[[], Defect | None] | None = None,
        offer: EndpointOffer | None = None,
        liveness: Liveness | None = None,
    ) -> None:
        self.pair = pair
        self._liveness = liveness
        self.offer = offer or offers.GEN4
        self.pool = pool
        self.owner = owner
        self.name = name
        self.interrupt = interrupt
        self.resubmit = resubmit
        self.timeout = timeout
        self._jobs: dict[int, _Job] = {}
        self._next_id = 1
        # (job, indices still to send; None: the whole single request)
        self._backlog: deque[tuple[_Job, npt.NDArray[np.intp] | None]] = deque()
        self._event: PfEvent | None = None  # RESTARTING or FATAL_ERROR seen, loss not settled
        self._restarted = False
        self._callbacks: list[tuple[Callable[[Handle[Any]], object], Handle[Any]]] = []
        self.completed = 0
        self.replayed = 0
        # The requests a restart caught, noted when the pair reports the loss (job id ->
        # request indices): work sent after that went to the reprogrammed ring and is not
        # lost, even when it is sent before this channel's next poll settles the loss.
        self._lost: dict[int, set[int]] = {}
        # Responses that matched no request in flight (a device fault): counted, the last
        # one kept; the poll that took one raises after it delivered every other response.
        self.strays = 0
        self.last_stray: str | None = None
        self._stray: TransportError | None = None
        self._submit = pair.submit
        self._poll = pair.poll
        pair.add_listener(self._on_event)
        # An endpoint with a defect record (an emulated one) may answer "fakedev failed
        # here": such requests end in FakedevDefectError, never in a device status.
        self._defect_record = defects if defects is not None and defects() is not None else None

    # --- submitting -------------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        """Requests submitted (or queued for a replay) whose outcome is not known yet."""
        return sum(job.pending for job in self._jobs.values())

    @overload
    def submit(
        self,
        work: Work[T],
        *,
        single: Literal[True],
        callback: Callable[[Handle[T]], object] | None = None,
        block: bool = True,
        timeout: float | None = None,
    ) -> Handle[T]: ...

    @overload
    def submit(
        self,
        work: Work[T],
        *,
        single: Literal[False],
        callback: Callable[[Handle[list[T]]], object] | None = None,
        block: bool = True,
        timeout: float | None = None,
    ) -> Handle[list[T]]: ...

    def submit(
        self,
        work: Work[object],
        *,
        single: bool,
        callback: Callable[[Handle[Any]], object] | None = None,
        block: bool = True,
        timeout: float | None = None,
    ) -> Handle[Any]:
        """Put ``work`` on the ring.

        Ownership: once ``work`` is queued or sent, the channel owns it (and releases it
        when it completes), even if this then raises (a timeout waiting for room); if this
        raises before that, the caller still owns it (:meth:`owns` tells which).

        Args:
            work: the requests.
            single: the handle's result is one value (else a list).
            callback: called with the handle when the work is done (from ``poll``).
            block: wait for room (back-pressure) instead of raising RingFullError.
            timeout: seconds ``block`` may wait (``None``: the channel's default).

        Raises:
            RingFullError: ``block`` is false and the ring cannot take it all; nothing sent.
            DeviceRestartError: ``block`` is false and the device is restarting.
            DeviceFatalError: the device failed.
            RequestTimeoutError: no room came in time (part of a batch may be in flight).
        """
        n = work.n
        if not 0 < n <= MAX_WORK:
            raise ValueError(f"a batch holds 1..{MAX_WORK} requests, not {n}")
        job_id = self._next_id
        self._next_id += 1
        handle: Handle[Any] = Handle(self, single, callback)
        job = _Job(job_id, work, handle)
        rows = work.rows
        if isinstance(rows, bytearray):
            _put_cookie(rows, REQ_OPAQUE_OFFSET, job_id << INDEX_BITS)
        else:
            cookies = np.uint64(job_id << INDEX_BITS) + np.arange(n, dtype=np.uint64)
            rows[:, _COOKIE_COLUMN] = cookies.view(np.uint8).reshape(n, REQ_OPAQUE_SZ)
        if not block or not self._backlog:
            if self._backlog:
                self._pump()
                if self._backlog:
                    raise RingFullError(
                        f"{self.name}: requests are waiting to be replayed; nothing was sent",
                        hint="poll responses first, or submit with block=True",
                    )
            if not block or job.single:
                # Fast path: all or nothing. A full ring raises (block=False) or falls
                # through to the queue below (block=True).
                try:
                    self._submit(rows, partial=False)
                except (RingFullError, DeviceRestartError):
                    if not block:
                        raise  # the caller's choice: a clear error, nothing sent
                else:
                    job.mark(_ALL, _SENT)
                    self._jobs[job_id] = job
                    return handle
            elif block and self.pair.state is not RingPairState.RUNNING:
                self._pump()  # raises DeviceFatalError when the device failed
        self._jobs[job_id] = job
        self._backlog.append((job, None if job.single else np.arange(n, dtype=np.intp)))
        self._pump()
        if self._backlog:
            self.wait_until(lambda: not self._queued(job), timeout)
        return handle

    def owns(self, work: Work[object]) -> bool:
        """Whether ``work`` is queued or in flight here (the channel will release it)."""
        return any(job.work is work for job in self._jobs.values())

    def _queued(self, job: _Job) -> bool:
        return any(j is job for j, _ in self._backlog)

    def _pump(self) -> None:
        """Send queued requests (replays first) as far as the ring has room."""
        pair = self.pair
        while self._backlog:
            if pair.state is RingPairState.FAILED:
                error = self._fatal_error()
                self._fail_everything(error)
                raise error
            if pair.state is not RingPairState.RUNNING:
                return
            job, idx = self._backlog[0]
            rows = job.work.rows
            if idx is not None and job.n != idx.shape[0]:
                assert isinstance(rows, np.ndarray)
                rows = rows[idx]
            try:
                sent = pair.submit(rows, partial=True)
            except (DeviceRestartError, DeviceSuspendedError):
                return  # the pair changed state under us: sent when it runs again
            if idx is None:
                if not sent:
                    return
                job.mark(_ALL, _SENT)
                self._backlog.popleft()
                continue
            job.mark(idx[:sent], _SENT)
            if sent < idx.shape[0]:
                self._backlog[0] = (job, idx[sent:])
                return
            self._backlog.popleft()

    # --- completing ----------------------------------------------------------------------

    def poll(self, max_responses: int | None = None) -> int:
        """Take the responses there are, complete work, run callbacks.

        Returns:
            How many requests completed (0: nothing new).

        Raises:
            DeviceFatalError: the device failed (every request has been failed first).
            TransportError: a response that matches no request (a device fault).
            Exception: whatever a callback raised (after every callback ran).

        A stray response (one whose cookie matches no request in flight) never costs the
        others: every other response of the poll is delivered, the loss settled and the
        callbacks run, then the poll raises :class:`~qathw.errors.TransportError` for it
        (counted in :attr:`strays`, described in :attr:`last_stray`).
        """
        irq = self.interrupt
        if irq is not None:
            irq.clear()  # before looking at the ring: a response after this signals again
        try:
            try:
                got = self._poll(max_responses)
            except QatError:
                if self.pair.state is not RingPairState.FAILED:
                    raise
                # The device failed, or the broker that lent it ended (the pair's failure).
                self._event = PfEvent.FATAL_ERROR
                got = _NOTHING
            n = int(got.shape[0])
            if n == 1:
                self._deliver_one(got.tobytes())
            elif n:
                self._deliver(got)
            if self._event is not None:
                self._settle_loss()
            if self._restarted and self.pair.state is RingPairState.RUNNING:
                self._restarted = False
                if irq is not None:
                    irq.enable()  # a device reset clears the bank's interrupt registers
            if self._backlog:
                self._pump()
            stray, self._stray = self._stray, None
            if stray is not None:
                raise stray  # every other response of this poll was delivered
        finally:
            # Work failed by a fatal error completes too: its callbacks run before the
            # error propagates.
            if self._callbacks:
                self._run_callbacks()
        return n

    def _deliver_one(self, raw: bytes) -> None:
        cookie = _get_cookie(raw, RESP_OPAQUE_OFFSET)[0]
        job = self._jobs.get(cookie >> INDEX_BITS)
        if job is not None and job.single and not cookie & _INDEX_MASK and job.pending:
            job.resp = raw
            job.pending = 0
            job.sent = False
            self.completed += 1
            self._finish(job)
            return
        self._take(cookie >> INDEX_BITS, np.array([cookie & _INDEX_MASK]), _row(raw))

    def _deliver(self, got: npt.NDArray[Any]) -> None:
        n = int(got.shape[0])
        raw = got.view(np.uint8).reshape(n, RESP_DEFAULT_SZ)
        cookies = got["opaque_data"]
        ids = cookies >> np.uint64(INDEX_BITS)
        index = (cookies & np.uint64(_INDEX_MASK)).astype(np.intp)
        if ids[0] == ids[-1] and (n < 3 or bool((ids == ids[0]).all())):
            self._take(int(ids[0]), index, raw)
            return
        cuts = np.flatnonzero(ids[1:] != ids[:-1]) + 1
        bounds = [0, *cuts.tolist(), n]
        for a, b in itertools.pairwise(bounds):
            self._take(int(ids[a]), index[a:b], raw[a:b])

    def _take(self, job_id: int, index: npt.NDArray[np.intp], raw: Rows) -> None:
        job = self._jobs.get(job_id)
        if job is None:
            self._strays(job_id, index)
            return
        count = int(index.shape[0])
        if job.single:
            if job.pending and int(index[0]) == 0:
                job.resp = raw[0].tobytes()
                job.sent = False
                job.pending = 0
                self.completed += 1
                self._finish(job)
                index = index[1:]
            if index.shape[0]:
                self._strays(job_id, index)
            return
        state = job.state
        assert state is not None
        if int(index.max()) >= job.n or job.pending < count:
            self._take_some(job, index, raw)
            return
        job.resp[index] = raw  # type: ignore[index]
        state[index] = _DONE
        job.pending -= count
        self.completed += count
        if job.pending == 0:
            self._finish(job)

    def _take_some(self, job: _Job, index: npt.NDArray[np.intp], raw: Rows) -> None:
        """The slow path of :meth:`_take`: some rows answer no request in flight."""
        state = job.state
        assert state is not None
        good: list[int] = []
        seen: set[int] = set()
        bad: list[int] = []
        for row, i in enumerate(index.tolist()):
            if i < job.n and state[i] != _DONE and i not in seen:
                seen.add(i)
                good.append(row)
            else:
                bad.append(row)
        if bad:
            self._strays(job.id, index[bad])
        if good:
            self._take(job.id, index[good], raw[good])

    def _strays(self, job_id: int, index: npt.NDArray[np.intp]) -> None:
        """Record responses that match no request in flight; :meth:`poll` raises for
        them once every other response it took was delivered."""
        cookie = job_id << INDEX_BITS | int(index[0])
        self.strays += int(index.shape[0])
        self.last_stray = (
            f"{self.name}: the device answered a request that is not in flight "
            f"(cookie {cookie:#x}; {self.strays} such response(s) so far)"
        )
        if self.strays == int(index.shape[0]):
            log.warning("%s", self.last_stray)  # once per channel: the count tells the rest
        if self._stray is None:
            self._stray = TransportError(
                self.last_stray,
                hint="the device or another process wrote this ring; close and reopen it",
            )

    def _finish(self, job: _Job) -> None:
        del self._jobs[job.id]
        if self._defect_record is not None:
            self._take_defects(job)
        work = job.work
        try:
            outcomes = work.finish(job.resp, job.lost)
        finally:
            work.release()
        handle = job.handle
        handle._outcomes = outcomes
        if handle._callback is not None:
            self._callbacks.append((handle._callback, handle))

    def _take_defects(self, job: _Job) -> None:
        rows = st.defective(job.resp, job.lost)
        if rows:
            assert self._defect_record is not None
            record = self._defect_record()  # written by the backend before the response
            for i in rows:
                job.lost[i] = st.defect_error(self.name, record)

    def _run_callbacks(self) -> None:
        pending, self._callbacks = self._callbacks, []
        first: BaseException | None = None
        for callback, handle in pending:
            try:
                callback(handle)
            except Exception as exc:
                first = first or exc
        if first is not None:
            raise first

    # --- waiting ---------------------------------------------------------------------------

    def wait_until(
        self,
        predicate: Callable[[], bool],
        timeout: float | None = None,
        *,
        settled: bool = False,
    ) -> None:
        """Poll until ``predicate()`` holds.

        Empty polls spin briefly, yielding the CPU and the GIL (``sched_yield``: a device
        thread in this process runs; ``time.sleep(0)`` would cost the 50 µs timer slack),
        then nap for growing short spells; in epoll mode the wait is on the interrupt's
        fd, bounded so that device events are seen too.

        Args:
            predicate: what to wait for.
            timeout: seconds (``None``: the channel's).
            settled: the predicate is "this work is done": a fatal error that completed
                it (failed what was still out, kept what had completed) ends the wait
                without raising, since the work's outcomes tell.

        Raises:
            RequestTimeoutError: ``timeout`` seconds passed (``None``: the channel's).
            DeviceFatalError: the device failed (unless ``settled`` and the work is done).
        """
        limit = self.timeout if timeout is None else timeout
        deadline = None if limit is None else time.monotonic() + limit
        idle = 0
        nap = 20e-6
        beat: int | None = None  # the backend's heartbeat once the wait got long
        while not predicate():
            try:
                got = self.poll()
            except QatError:
                if settled and self.pair.state is RingPairState.FAILED and predicate():
                    return  # every request has its outcome: the work says what failed
                raise
            if got:
                idle, nap = 0, 20e-6
                continue
            if self._backlog:
                self._pump()
            idle += 1
            if idle % 64 == 0:
                if idle == 64 and self._liveness is not None:
                    beat = self._liveness.heartbeat()  # once per long wait, never per request
                if deadline is not None and time.monotonic() > deadline:
                    raise RequestTimeoutError(
                        f"{self.name}: no response within {limit} s", hint=self._silent_hint(beat)
                    )
            irq = self.interrupt
            if irq is not None and idle > 1:
                left = _IRQ_WAIT if deadline is None else max(0.0, deadline - time.monotonic())
                irq.wait(min(_IRQ_WAIT, left))
            elif idle < _SPIN:
                _yield()
            else:
                time.sleep(nap)
                nap = min(nap * 2, _NAP_MAX)

    def _silent_hint(self, beat: int | None) -> str:
        hint = self._liveness.silence_hint(beat) if self._liveness is not None else None
        return hint or (
            "is the device (its backend process) running? "
            "'qathw status' / 'python -m fakedev status <file>' tell"
        )

    # --- device events ----------------------------------------------------------------------

    def _on_event(self, event: RingPairEvent) -> None:
        # Called from inside the ring pair's mailbox poll: only note it here. The loss is
        # settled by poll() once the responses written before the stop have been taken.
        if event.event is PfEvent.RESTARTED:
            self._restarted = True
        elif self._event is not PfEvent.FATAL_ERROR:
            self._event = event.event
            if event.event is PfEvent.RESTARTING:
                # Which requests it caught, now: the pair may be programmed again and take
                # new work before this channel's next poll settles the loss.
                for job in self._jobs.values():
                    caught = job.in_flight()
                    if caught:
                        self._lost.setdefault(job.id, set()).update(caught)

    def _fatal_error(self) -> QatError:
        failure = self.pair.failure()
        if not isinstance(failure, DeviceFatalError):
            return failure  # not the device's: the broker that lent it ended
        return DeviceFatalError(
            f"{self.name}: the device reported a fatal error",
            hint="the device needs a reset by its administrator",
        )

    def _lost_error(self, intact: bool, replayed: bool) -> DeviceRestartError | None:
        """The replay rule for one lost request: ``None`` to replay it, else its error.

        Args:
            intact: its input is known intact (out of place, or staged by qathw).
            replayed: it was replayed once already, and lost again.
        """
        what = (
            f"{self.name}: the device restarted, or its backend was replaced, with this "
            "request in flight"
        )
        if not intact:
            off = " (replay is off for this instance)" if not self.resubmit else ""
            return DeviceRestartError(
                f"{what}{off}; it worked in place on your device buffer, which may be "
                "half-transformed, so it was not replayed",
                hint="check or refill the buffer, then submit the request again",
                retryable=False,
            )
        if not self.resubmit:
            return DeviceRestartError(
                f"{what} (replay is off for this instance)",
                hint="submit the request again: its input is intact",
                retryable=True,
            )
        if replayed:
            return DeviceRestartError(
                f"{what}, and was lost again after its one replay",
                hint="submit the request again once the device is stable: its input is intact",
                retryable=True,
            )
        return None

    def _settle_loss(self) -> None:
        event, self._event = self._event, None
        if event is PfEvent.FATAL_ERROR:
            error = self._fatal_error()
            self._fail_everything(error)
            raise error
        replays: list[tuple[_Job, npt.NDArray[np.intp] | None]] = []
        caught, self._lost = self._lost, {}
        for job_id, indices in caught.items():
            job = self._jobs.get(job_id)
            if job is None:
                continue  # its responses came after all (taken before the stop)
            # Still in flight and caught by the restart: answered ones are done, and
            # work sent to the reprogrammed ring since is not lost.
            lost = [i for i in job.in_flight() if i in indices]
            if not lost:
                continue
            again: list[int] = []
            replayed: set[int] | None = getattr(job, "replayed", None)
            for i in lost:
                failure = self._lost_error(
                    job.work.replayable(i), replayed is not None and i in replayed
                )
                if failure is None:
                    again.append(i)
                    continue
                job.lost[i] = failure
                job.mark([i], _DONE)
                job.pending -= 1
            if again:
                job.work.restage(again)
                job.mark(again, _QUEUED)
                job.replayed = (replayed or set()) | set(again)
                replays.append((job, None if job.single else np.asarray(again, dtype=np.intp)))
                self.replayed += len(again)
            if job.pending == 0:
                self._finish(job)
        # Replays go first, in their original order, before work queued meanwhile.
        for entry in reversed(replays):
            self._backlog.appendleft(entry)

    def _fail_everything(self, error: BaseException) -> None:
        self._backlog.clear()
        self._lost.clear()
        for job in list(self._jobs.values()):
            if job.single:
                job.lost[0] = error
            else:
                assert job.state is not None
                for i in np.flatnonzero(job.state != _DONE).tolist():
                    job.lost[i] = error
                job.state[:] = _DONE
            job.pending = 0
            self._finish(job)

    # --- teardown ------------------------------------------------------------------------------

    def drain(self, timeout: float) -> None:
        """Wait (up to ``timeout`` seconds) for the requests in flight to complete."""
        if self._jobs and self.pair.state is not RingPairState.CLOSED:
            try:
                self.wait_until(lambda: not self._jobs, timeout)
            except (RequestTimeoutError, DeviceFatalError, DeviceRestartError):
                pass
            except QatError:
                if self.pair.state is not RingPairState.FAILED:
                    raise  # a failed pair's own error (a broker gone) ends the drain too

    def __repr__(self) -> str:
        return f"<Channel {self.name}: {self.in_flight} in flight>"
