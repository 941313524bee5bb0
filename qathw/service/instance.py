"""Instances: a held section's crypto and compression instances, bound to ring pairs.

:func:`open_instances` turns a :class:`~qathw.sections.HeldSection` into live instances:
for every device of the section it opens the endpoint (``qathw.endpoint.open_endpoint``,
by the PCI address discovery found) and, for every instance record, programs the ring
pair the configuration gave it — the bank and ring numbers of the expansion, the ring
depth from ``NumConcurrent*Requests`` (rounded up to a ring size the hardware knows) —
checking the bank against the endpoint's ring-to-service map when the endpoint reports
one. A Cy instance sends symmetric requests on its sym ring pair (its asym bank stays
untouched: qathw has no asymmetric service); a Dc instance on its dc ring pair.

Memory: each ring pair's requests use DMA memory of its own bank
(``Endpoint.bank_memory``), so processes holding different sections of one emulated
endpoint never allocate the same bytes.

Polling: ``IsPolled = 1`` instances are polled by the application (every call form does
it for you); ``IsPolled = 2`` instances also have a file descriptor
(:meth:`Instance.fileno`) that becomes readable when responses arrive — give the instance
to ``select``/``selectors``/``epoll`` and call :meth:`Instance.poll` when it is ready.

An instance, like a DPDK queue pair, is driven by one thread at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal, TypeVar, overload

from qathw.config.rings import EPOLL
from qathw.config.rings import Instance as InstanceRecord
from qathw.config.rings import RingPair as RingRecord
from qathw.endpoint import Endpoint, open_endpoint
from qathw.errors import (
    DeviceNotFoundError,
    QatError,
    RingConfigError,
    UnsupportedAlgorithmError,
)
from qathw.fw.common import REQ_DEFAULT_SZ
from qathw.paths import HostRoot
from qathw.sections import HeldSection
from qathw.service import calls
from qathw.service.algorithms import Huffman
from qathw.service.buffers import DATA_ALIGN, DeviceBuffer, ScatterBuffer, lines
from qathw.service.cd import ChainOrder, SliceForm
from qathw.service.completion import Channel, Handle
from qathw.service.compression import CompressionSession
from qathw.service.offers import EndpointOffer
from qathw.service.operations import Op
from qathw.service.sessions import (
    AeadSession,
    ChainSession,
    CipherSession,
    HashSession,
    Session,
)
from qathw.transport.csr import RING_SIZE_CODE_MAX, ring_bytes
from qathw.transport.pfvf import RingService

T = TypeVar("T")
S = TypeVar("S", bound=Session[Any, Any])

DEFAULT_TIMEOUT = 30.0
_MIN_SLOTS = 4  # a 32-byte response ring is at least 128 bytes
_CLOSE_DRAIN = 2.0
_SERVES = {
    "sym": (RingService.SYM, RingService.CRYPTO),
    "asym": (RingService.ASYM, RingService.CRYPTO),
    "dc": (RingService.COMP,),
}


def ring_slots(depth: int, request_size: int = REQ_DEFAULT_SZ) -> int:
    """Slots of a ring for ``depth`` concurrent requests: the next size the hardware knows."""
    slots = _MIN_SLOTS
    while slots < depth:
        slots *= 2
    return min(slots, ring_bytes(RING_SIZE_CODE_MAX) // request_size)


class Instance:
    """One instance of a held section, bound to its ring pair (base of Cy and Dc).

    Attributes:
        record: the configuration's view of it (device, section, banks, rings, polling).
        name: ``Cy<n>Name`` / ``Dc<n>Name`` (``SSL0``).
        endpoint: the open endpoint it lives on.
    """

    _service = "sym"

    def __init__(
        self,
        record: InstanceRecord,
        endpoint: Endpoint,
        channel: Channel | None,
    ) -> None:
        self.record = record
        self.name = record.name
        self.endpoint = endpoint
        self._channel = channel
        self._sessions: list[Session[Any, Any]] = []
        self._closed = False

    # --- state ------------------------------------------------------------------------

    @property
    def polling(self) -> str:
        """``"poll"`` (IsPolled 1) or ``"epoll"`` (IsPolled 2)."""
        return self.record.polling_mode

    @property
    def channel(self) -> Channel:
        """The ring pair's completion engine.

        Raises:
            UnsupportedAlgorithmError: the instance has no ring pair for this service.
        """
        if self._closed:
            raise QatError(f"instance {self.name} is closed", hint="open the instances again")
        if self._channel is None:
            raise UnsupportedAlgorithmError(
                f"instance {self.name} has no {self._service} ring pair (service "
                f"{self.record.service!r} in {self.record.device.file_name})",
                hint=f"enable {self._service} in ServicesEnabled of that file",
            )
        return self._channel

    @property
    def in_flight(self) -> int:
        """Requests submitted whose outcome is not known yet."""
        return 0 if self._channel is None else self._channel.in_flight

    def fileno(self) -> int:
        """An fd that becomes readable when responses arrive (epoll instances).

        Raises:
            QatError: a polled instance (IsPolled = 1) has none.
        """
        irq = self.channel.interrupt
        if irq is None:
            raise QatError(
                f"instance {self.name} is polled (IsPolled = 1) and has no file descriptor",
                hint=f"set {self.record.kind.capitalize()}{self.record.index}IsPolled = 2 "
                "for an epoll instance, or call poll() yourself",
            )
        return irq.fileno()

    # --- memory -------------------------------------------------------------------------

    def alloc(self, size: int) -> DeviceBuffer:
        """A buffer in this instance's DMA memory, for zero-copy requests.

        Raises:
            DmaPoolExhaustedError: not enough memory (the hint says how to get more).
            ValueError: ``size`` is not positive.
        """
        ch = self.channel
        if not isinstance(size, int) or size <= 0:
            raise ValueError(f"a buffer size must be a positive int, not {size!r}")
        block = ch.pool.alloc(lines(size), align=DATA_ALIGN)
        return DeviceBuffer(block, ch.pool, ch.owner, 0, size)

    def alloc_scatter(self, size: int, page_size: int = 4096) -> ScatterBuffer:
        """``size`` bytes in separate pages of ``page_size`` bytes, one buffer list.

        Raises:
            DmaPoolExhaustedError: not enough memory.
            ValueError: sizes not positive, or more pages than a list takes.
        """
        ch = self.channel
        if size <= 0 or page_size <= 0:
            raise ValueError("size and page_size must be positive")
        full, rest = divmod(size, page_size)
        sizes = [page_size] * full + ([rest] if rest else [])
        blocks = []
        try:
            for n in sizes:
                blocks.append(ch.pool.alloc(lines(n), align=DATA_ALIGN))
        except BaseException:
            for b in blocks:
                ch.pool.free(b)
            raise
        return ScatterBuffer(blocks, sizes, ch.pool, ch.owner)

    # --- the call forms -----------------------------------------------------------------

    def _own(self, ops: Sequence[Op[object]]) -> Channel:
        ch = self.channel
        for op in ops:
            if not isinstance(op, Op):
                raise TypeError(
                    f"expected an op (session.encrypt_op(...)), not {type(op).__name__}"
                )
            if op.channel is not ch:
                raise ValueError(f"this op belongs to another instance than {self.name}")
        return ch

    def submit(
        self,
        op: Op[T],
        callback: Callable[[Handle[T]], object] | None = None,
        *,
        block: bool = True,
        timeout: float | None = None,
    ) -> Handle[T]:
        """Send ``op``; its outcome comes with :meth:`poll` (or ``handle.result()``).

        Args:
            op: from a session's ``*_op`` method.
            callback: called with the handle once the op is done (from :meth:`poll`).
            block: when the ring is full, poll until there is room (back-pressure);
                false: raise :class:`~qathw.errors.RingFullError` and send nothing.
            timeout: seconds ``block`` may wait.

        Returns:
            The op's handle: ``handle.result()`` is what :meth:`perform` returns.

        Raises:
            RingFullError: no room and ``block`` is false.
            DeviceRestartError / DeviceFatalError: the device is restarting / failed.
        """
        ch = self._own((op,))
        return calls.submit(ch, op, callback, block=block, timeout=timeout)

    def submit_batch(
        self,
        ops: Sequence[Op[T]],
        callback: Callable[[Handle[list[T]]], object] | None = None,
        *,
        block: bool = True,
        timeout: float | None = None,
    ) -> Handle[list[T]]:
        """Send many ops as one batch (one ring submit when they fit); one handle, whose
        result is the list of results in order.

        Raises:
            ValueError: no ops, or an op of another instance.
            RingFullError / DeviceRestartError / DeviceFatalError: as :meth:`submit`.
        """
        ch = self._own(ops)
        return calls.submit_batch(ch, ops, callback, block=block, timeout=timeout)

    def perform(self, op: Op[T], *, timeout: float | None = None) -> T:
        """Run ``op`` now: submit and poll until it is done.

        Args:
            op: from a session's ``*_op`` method.
            timeout: seconds to wait (``None``: the instance's default, 30 s).

        Returns:
            The op's result.

        Raises:
            RequestTimeoutError: no response in time.
            Exception: the op's error (``RequestError``, ``InvalidTag``...).
        """
        return calls.perform(self._own((op,)), op, timeout=timeout)

    @overload
    def perform_batch(
        self,
        ops: Sequence[Op[T]],
        *,
        timeout: float | None = None,
        return_exceptions: Literal[False] = False,
    ) -> list[T]: ...

    @overload
    def perform_batch(
        self, ops: Sequence[Op[T]], *, timeout: float | None = None, return_exceptions: bool
    ) -> list[T | BaseException]: ...

    def perform_batch(
        self,
        ops: Sequence[Op[T]],
        *,
        timeout: float | None = None,
        return_exceptions: bool = False,
    ) -> list[T] | list[T | BaseException]:
        """Run many ops now, as one batch; results in order.

        Args:
            ops: the ops (of this instance's sessions).
            timeout: seconds to wait.
            return_exceptions: put a failed op's exception in its place instead of
                raising the first one (after every op has completed).
        """
        handle = self.submit_batch(ops, timeout=timeout)
        if return_exceptions:
            return handle.result(timeout, return_exceptions=True)
        return handle.result(timeout)

    async def perform_async(self, op: Op[T]) -> T:
        """``await`` form of :meth:`perform`: the event loop keeps running meanwhile."""
        handle = await calls.run_async(self._own((op,)), op)
        return handle.result(0)

    @overload
    async def perform_batch_async(
        self, ops: Sequence[Op[T]], *, return_exceptions: Literal[False] = False
    ) -> list[T]: ...

    @overload
    async def perform_batch_async(
        self, ops: Sequence[Op[T]], *, return_exceptions: bool
    ) -> list[T | BaseException]: ...

    async def perform_batch_async(
        self, ops: Sequence[Op[T]], *, return_exceptions: bool = False
    ) -> list[T] | list[T | BaseException]:
        """``await`` form of :meth:`perform_batch`."""
        handle = await calls.run_batch_async(self._own(ops), ops)
        if return_exceptions:
            return handle.result(0, return_exceptions=True)
        return handle.result(0)

    def poll(self, max_responses: int | None = None) -> int:
        """Take the responses that arrived, complete ops and run their callbacks.

        Returns:
            How many requests completed.
        """
        if self._channel is None or self._closed:
            return 0
        return self._channel.poll(max_responses)

    # --- teardown -----------------------------------------------------------------------

    def _track(self, session: S) -> S:
        self._sessions.append(session)
        return session

    def close(self) -> None:
        """Wait briefly for requests in flight, then free sessions. Idempotent.

        The ring pair itself is closed with the endpoint (:meth:`Instances.close`).
        """
        if self._closed:
            return
        if self._channel is not None:
            self._channel.drain(_CLOSE_DRAIN)
        for session in self._sessions:
            session.close()
        self._sessions.clear()
        self._closed = True

    def __repr__(self) -> str:
        rec = self.record
        banks = "/".join(str(b) for b in rec.banks)
        return (
            f"<{type(self).__name__} {self.name} of {rec.section}: {rec.device.name} "
            f"bank(s) {banks}, {self.polling}>"
        )


class CyInstance(Instance):
    """A crypto instance: symmetric sessions on its sym ring pair."""

    _service = "sym"

    def cipher(
        self, algorithm: str, key: object, *, form: SliceForm | None = None
    ) -> CipherSession:
        """A cipher session (``aes-128-cbc``, ``aes-256-ctr``, ``aes-256-xts``, ``des-cbc``,
        ``3des-cbc``...); see :class:`~qathw.service.sessions.CipherSession`."""
        return self._track(CipherSession(self.channel, algorithm, key, form=form))

    def hash(self, algorithm: str, *, digest_size: int | None = None) -> HashSession:
        """A hash session (``sha1`` .. ``sha512``)."""
        return self._track(HashSession(self.channel, algorithm, None, digest_size=digest_size))

    def hmac(self, algorithm: str, key: object, *, digest_size: int | None = None) -> HashSession:
        """An HMAC session (``hmac-sha256`` or just ``sha256``)."""
        name = algorithm if algorithm.lower().startswith("hmac-") else f"hmac-{algorithm}"
        return self._track(HashSession(self.channel, name, key, digest_size=digest_size))

    def aead(
        self,
        algorithm: str,
        key: object,
        *,
        tag_size: int = 16,
        single_pass: bool | None = None,
    ) -> AeadSession:
        """An AES-GCM session (``aes-128-gcm``...), used like ``cryptography``'s AESGCM
        (``single_pass=None``: single pass where the endpoint offers it)."""
        s = AeadSession(self.channel, algorithm, key, tag_size=tag_size, single_pass=single_pass)
        return self._track(s)

    def chain(
        self,
        cipher_algorithm: str,
        cipher_key: object,
        auth_algorithm: str,
        auth_key: object = None,
        *,
        order: ChainOrder = ChainOrder.CIPHER_THEN_HASH,
        digest_size: int | None = None,
        form: SliceForm | None = None,
    ) -> ChainSession:
        """A cipher + hash chain session; see :class:`~qathw.service.sessions.ChainSession`."""
        s = ChainSession(
            self.channel,
            cipher_algorithm,
            cipher_key,
            auth_algorithm,
            auth_key,
            order=order,
            digest_size=digest_size,
            form=form,
        )
        return self._track(s)


class DcInstance(Instance):
    """A compression instance: deflate sessions on its dc ring pair."""

    _service = "dc"

    def compression(
        self, *, huffman: Huffman = Huffman.DYNAMIC, level: int = 6
    ) -> CompressionSession:
        """A stateless deflate session; see
        :class:`~qathw.service.compression.CompressionSession`."""
        return self._track(CompressionSession(self.channel, huffman=huffman, level=level))


class Instances:
    """The live instances of a held section (a context manager; :meth:`close` when done).

    Attributes:
        section: the held section.
        cy / dc: crypto and compression instances, in configuration order.
        endpoints: the endpoints opened for them, by PCI address.
    """

    def __init__(
        self,
        section: HeldSection,
        cy: tuple[CyInstance, ...],
        dc: tuple[DcInstance, ...],
        endpoints: dict[str, Endpoint],
    ) -> None:
        self.section = section
        self.cy = cy
        self.dc = dc
        self.endpoints = endpoints
        self._closed = False

    def __iter__(self) -> Iterator[Instance]:
        yield from self.cy
        yield from self.dc

    def __len__(self) -> int:
        return len(self.cy) + len(self.dc)

    def by_name(self, name: str) -> Instance:
        """The instance called ``name`` (``Cy<n>Name``).

        Raises:
            KeyError: no such instance (the message lists the names).
        """
        for inst in self:
            if inst.name == name:
                return inst
        raise KeyError(f"no instance {name!r}; this section has {[i.name for i in self]}")

    def poll(self) -> int:
        """Poll every instance; how many requests completed."""
        return sum(inst.poll() for inst in self)

    def close(self) -> None:
        """Close every instance, then the endpoints (ring pairs, memory). Idempotent."""
        if self._closed:
            return
        self._closed = True
        for inst in self:
            inst.close()
        for ep in self.endpoints.values():
            ep.close()

    def __enter__(self) -> Instances:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Instances of {self.section.name}: {len(self.cy)} cy, {len(self.dc)} dc>"


# --- opening ------------------------------------------------------------------------------


def _no_endpoint(held: HeldSection, record: InstanceRecord) -> DeviceNotFoundError:
    dev = record.device
    n = dev.accel_id
    file = f"/dev/shm/qat{n}"
    return DeviceNotFoundError(
        f"{held.name}: {dev.name} ({dev.file_name}) has no PCI function to open: no QAT "
        "endpoint was found on this host, so the started devices come from the "
        "configuration files alone",
        hint=(
            "bind a QAT VF to vfio-pci, or present each device of the section as an "
            f"emulated endpoint: 'python -m fakedev create {file} --device {dev.class_name} "
            f"--size 64M', 'python -m fakedev serve {file} &' (a VF also takes "
            "'--services' with the file's ServicesEnabled), 'python -m fakedev.sysfs "
            f"/dev/shm/qathw-host --topology empty --emulated 0000:00:{0x10 + n:02x}.0={file}' "
            "(one --emulated per device, in accel-id order), then "
            "'export QATHW_SYSFS_ROOT=/dev/shm/qathw-host/sys'"
        ),
    )


def _check_service(ep: Endpoint, record: InstanceRecord, ring: RingRecord) -> None:
    if ep.services is None:
        return
    served = ep.services[ring.bank % len(ep.services)]
    if served in _SERVES[ring.service]:
        return
    names = ", ".join(f"bank {b}: {s.name.lower()}" for b, s in enumerate(ep.services))
    raise RingConfigError(
        f"instance {record.name} ({record.section}) has its {ring.service} ring pair in bank "
        f"{ring.bank} of {ep.name}, but the device serves {served.name.lower()} there "
        f"(ring-to-service map: {names}); {record.device.file_name} allocated it for "
        f"{ring.service}",
        hint=f"make ServicesEnabled in {record.device.file_name} match the device's services",
    )


def _channel(
    ep: Endpoint,
    record: InstanceRecord,
    ring: RingRecord,
    *,
    resubmit: bool,
    timeout: float | None,
) -> Channel:
    _check_service(ep, record, ring)
    pool = ep.bank_memory(ring.bank)
    pair = ep.ring_pair(
        ring.bank,
        slots=ring_slots(ring.depth),
        tx_ring=ring.tx,
        request_size=REQ_DEFAULT_SZ,  # the sym and dc services' requests
        pool=pool,
    )
    if ring.rx != pair.rx_ring:
        raise RingConfigError(
            f"instance {record.name}: the configuration pairs ring {ring.tx} with {ring.rx}, "
            f"the device with {pair.rx_ring}"
        )
    irq = ep.interrupt(pair) if record.polling == EPOLL else None
    return Channel(
        pair,
        pool,
        ep,
        name=f"{record.name} {ring.service}",
        interrupt=irq,
        resubmit=resubmit,
        timeout=timeout,
        defects=ep.fakedev_defect,
        offer=EndpointOffer(ep.kind.generation, ep.kind.class_name, ep.capabilities),
        liveness=ep,
    )


def open_instances(
    held: HeldSection,
    *,
    host: HostRoot | None = None,
    resubmit: bool = True,
    timeout: float | None = DEFAULT_TIMEOUT,
) -> Instances:
    """Open the instances of the section this process holds.

    Args:
        held: from :func:`qathw.user_start`.
        host: the host root; default: the one given to ``user_start``, else
            ``$QATHW_SYSFS_ROOT`` or ``/``.
        resubmit: replay intact requests lost to a device restart or a replaced
            backend (the replay rule: docs/api.md#the-replay-rule, applied in
            :mod:`qathw.service.completion`); false fails every lost request with a
            ``DeviceRestartError`` whose ``retryable`` says whether it may simply be sent
            again.
        timeout: default seconds a call waits for a response (``None``: forever).

    Returns:
        The instances (a context manager).

    Raises:
        TypeError: ``held`` is not a :class:`~qathw.sections.HeldSection`.
        SectionStateError: the section is no longer held by this process.
        DeviceNotFoundError: a device of the section has no PCI function on this host
            (the hint gives the commands to present an emulated one).
        DeviceError / VfioError: an endpoint cannot be opened (the hint says why).
        RingConfigError: the configuration does not match the device (ring-to-service map).
        DmaPoolExhaustedError: not enough device memory for the rings.
    """
    from qathw.errors import SectionStateError

    if not isinstance(held, HeldSection):
        raise TypeError(
            "open_instances() needs the HeldSection that qathw.user_start(name) returned, "
            f"not {type(held).__name__}"
        )
    if not held.held:
        raise SectionStateError(
            f"{held.name} is not held by this process", hint="call user_start() first"
        )
    if host is None:
        host = held.host
    endpoints: dict[str, Endpoint] = {}
    cy: list[CyInstance] = []
    dc: list[DcInstance] = []
    try:
        for record in held.instances:
            bdf = record.device.bdf
            if bdf is None:
                raise _no_endpoint(held, record)
            ep = endpoints.get(bdf)
            if ep is None:
                ep = open_endpoint(bdf, host=host)
                endpoints[bdf] = ep
                ep.connect()
            rings = {r.service: r for r in record.rings}
            if record.kind == "dc":
                ring = rings.get("dc")
                ch = (
                    _channel(ep, record, ring, resubmit=resubmit, timeout=timeout) if ring else None
                )
                dc.append(DcInstance(record, ep, ch))
            else:
                ring = rings.get("sym")
                ch = (
                    _channel(ep, record, ring, resubmit=resubmit, timeout=timeout) if ring else None
                )
                cy.append(CyInstance(record, ep, ch))
    except BaseException:
        for ep in endpoints.values():
            ep.close()
        raise
    return Instances(held, tuple(cy), tuple(dc), endpoints)
