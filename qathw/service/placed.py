"""A session's setups, made once each: CDs in DMA memory and their request templates.

What stays the same between a session's requests is built once per combination of what
varies (the direction; for GCM also the AAD length and where the tag goes), the first
time an op needs it, and kept until the session closes:

* :class:`PlacedSetup` — an LA setup (:class:`~qathw.service.cd.LaSetup`) whose content
  descriptor has been copied into the channel's DMA memory, with the request template
  that points at it;
* :class:`Setups` — a session's table of setups by key (:func:`placed_setups` makes
  one of placed LA setups; a compression session keeps its templates in one too). Ops
  hold it and ask it for their setup when they are prepared, so an op of a closed
  session fails cleanly instead of pointing the device at freed memory.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from qathw.dma import DmaBuffer, DmaPool
from qathw.errors import QatError
from qathw.fw import common, la
from qathw.service import wire
from qathw.service.algorithms import CipherAlgorithm
from qathw.service.buffers import DATA_ALIGN, lines
from qathw.service.cd import LaSetup
from qathw.service.completion import Channel

K = TypeVar("K", bound=Hashable)
S = TypeVar("S")

_flags = common.REQ_SERV_SPECIF_FLAGS_FIELD.unpack_from  # serv_specif_flags


class PlacedSetup:
    """An LA setup with its CD in DMA memory and the request template pointing at it.

    Args:
        setup: the session's CD and template.
        block: the DMA memory holding a copy of ``setup.cd``.

    Attributes:
        setup / block / iova: what was placed, and where.
        template: the request template for this CD (no per-op fields yet).
        fast: a cipher-only or single-pass GCM setup, whose requests on flat buffers
            :meth:`flat_request` builds with a few stores (:func:`wire.flat_la_request`)
            instead of the checked :func:`wire.la_request`.
    """

    __slots__ = ("block", "fast", "iova", "setup", "template")

    def __init__(self, setup: LaSetup, block: DmaBuffer) -> None:
        self.setup = setup
        self.block = block
        self.iova = block.iova
        self.template = bytes(setup.request(block.iova))
        flags = _flags(self.template, common.REQ_SERV_SPECIF_FLAGS_OFFSET)[0]
        single_pass = bool(flags >> la.SINGLE_PASS_PROTO_BITPOS & 1)
        self.fast = (
            setup.tweak_key is None
            and setup.auth is None
            and (isinstance(setup.cipher, CipherAlgorithm) or single_pass)
        )

    @classmethod
    def place(cls, pool: DmaPool, setup: LaSetup) -> PlacedSetup:
        """Copy ``setup``'s CD into a new block of ``pool``.

        Raises:
            DmaPoolExhaustedError: no room for it.
        """
        block = pool.alloc(lines(len(setup.cd)), align=DATA_ALIGN)
        block.view[: len(setup.cd)] = setup.cd
        return cls(setup, block)

    def flat_request(
        self,
        src: int,
        src_len: int,
        dst: int,
        dst_len: int,
        length: int,
        iv: bytes,
        aad_iova: int | None = None,
        digest_iova: int | None = None,
    ) -> bytearray:
        """The request for flat buffers, cipher region ``[0, length)`` (``fast`` setups).

        The op's arguments were checked when it was made; nothing is checked here.
        """
        return wire.flat_la_request(
            self.template, src, src_len, dst, dst_len, length, iv, aad_iova, digest_iova
        )


class Setups(Generic[K, S]):
    """A session's setups by key, each made on first use and given back on close.

    Args:
        channel: where the session's requests run (its DMA memory holds placed CDs).
        name: how errors name the session (``aes-128-cbc``).
        make: the setup for a key (it raises what the algorithm's checks raise).
        free: gives back what ``make`` took (``None``: nothing to give back).
    """

    def __init__(
        self,
        channel: Channel,
        name: str,
        make: Callable[[K], S],
        free: Callable[[S], None] | None = None,
    ) -> None:
        self.channel = channel
        self.name = name
        self._make = make
        self._free = free
        self._table: dict[K, S] = {}
        self._closed = False

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called (no setup can be had any more)."""
        return self._closed

    def get(self, key: K) -> S:
        """The setup for ``key``, made now if it is the first time.

        Raises:
            QatError: the session is closed.
            DmaPoolExhaustedError: no DMA memory for a new CD.
        """
        found = self._table.get(key)
        if found is not None:
            return found
        self.check_open()
        made = self._make(key)
        self._table[key] = made
        return made

    def check_open(self) -> None:
        """Raise :class:`~qathw.errors.QatError` if the session is closed."""
        if self._closed:
            raise QatError(f"{self.name} session is closed", hint="open a new session")

    def close(self) -> None:
        """Give back every setup; later :meth:`get` calls raise. Idempotent."""
        self._closed = True
        table, self._table = self._table, {}
        if self._free is not None:
            for made in table.values():
                self._free(made)

    def __len__(self) -> int:
        return len(self._table)


def placed_setups(
    channel: Channel, name: str, build: Callable[[K], LaSetup]
) -> Setups[K, PlacedSetup]:
    """A session's LA setups: built by ``build`` and placed in ``channel``'s DMA memory.

    Args:
        channel: the session's channel.
        name: the session's name, for errors.
        build: the setup for a key (``cd.cipher_session(...)`` with the session's key).
    """
    pool = channel.pool
    return Setups(
        channel,
        name,
        lambda key: PlacedSetup.place(pool, build(key)),
        lambda placed: pool.free(placed.block),
    )
