"""Work: what ops become when they are sent, as the channel runs it.

An op, prepared (:meth:`~qathw.service.operations.Op.prepare`), is a :class:`One`: its
128-byte request, the DMA memory staged for it, and how to read its response. Ops sent
together are a :class:`Many` — one array of requests, one ring submit — unless
:mod:`~qathw.service.batches` can build them as one array directly. Both follow the
:class:`~qathw.service.completion.Work` protocol, including the restart rule's part:
whether a request may be replayed, and how to stage it again first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

import numpy as np

from qathw.dma import DmaBuffer, DmaPool
from qathw.service.buffers import Staged
from qathw.service.completion import Rows

T_co = TypeVar("T_co", covariant=True)


class One(Generic[T_co]):
    """The work of one op: its request, its staged buffers, and how to read its answer.

    Args:
        request: the 128-byte request (the channel writes the cookie into it).
        finish: the op's result from its 32-byte response (or the exception it raises).
        staged: the op's buffers (released, or restaged for a replay, with the work).
        aux: small DMA blocks of the op (digest, AAD), freed with the work.
        pool: where ``aux`` came from.
        replayable: the request's input is intact after a restart (see the rule in
            :mod:`~qathw.service.completion`).
    """

    n = 1
    __slots__ = ("_aux", "_finish", "_pool", "_replayable", "_staged", "rows")

    def __init__(
        self,
        request: bytearray,
        finish: Callable[[bytes], T_co],
        staged: Sequence[Staged],
        aux: list[DmaBuffer],
        pool: DmaPool,
        replayable: bool,
    ) -> None:
        self.rows = request
        self._finish = finish
        self._staged = staged
        self._aux = aux
        self._pool = pool
        self._replayable = replayable

    def finish(
        self, responses: Rows | bytes, lost: dict[int, BaseException]
    ) -> list[T_co | BaseException]:
        """The op's outcome: its result, or the exception it raises."""
        if lost:
            return [lost[0]]
        raw = responses if isinstance(responses, bytes) else responses[0].tobytes()
        try:
            return [self._finish(raw)]
        except Exception as exc:
            return [exc]

    def replayable(self, index: int) -> bool:
        """Whether the request may be sent again after a restart."""
        return self._replayable

    def restage(self, indices: Sequence[int]) -> None:
        """Copy the caller's bytes in again before a replay."""
        for s in self._staged:
            s.restage()

    def release(self) -> None:
        """Free the staged buffers and aux blocks. Idempotent."""
        for s in self._staged:
            s.release()
        if self._aux:
            aux, self._aux = self._aux, []
            for block in aux:
                self._pool.free(block)


class Many(Generic[T_co]):
    """Several ops' work as one submission (a batch of mixed ops), results in order."""

    __slots__ = ("_works", "n", "rows")

    def __init__(self, works: list[One[T_co]]) -> None:
        self._works = works
        self.n = len(works)
        self.rows: Rows = np.frombuffer(
            bytearray(b"".join(w.rows for w in works)), np.uint8
        ).reshape(self.n, -1)

    def finish(
        self, responses: Rows | bytes, lost: dict[int, BaseException]
    ) -> list[T_co | BaseException]:
        """Each op's outcome, in order."""
        assert isinstance(responses, np.ndarray)
        out: list[T_co | BaseException] = []
        for i, w in enumerate(self._works):
            if i in lost:
                out.append(lost[i])
            else:
                out += w.finish(responses[i].tobytes(), {})
        return out

    def replayable(self, index: int) -> bool:
        """Whether op ``index``'s request may be sent again after a restart."""
        return self._works[index].replayable(0)

    def restage(self, indices: Sequence[int]) -> None:
        """Stage those ops' input again before their replay."""
        for i in indices:
            self._works[i].restage((0,))

    def release(self) -> None:
        """Release every op's work. Idempotent."""
        for w in self._works:
            w.release()
