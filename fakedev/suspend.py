"""Host tooling: ask an emulated endpoint's frontend to suspend, and let it resume.

Before the host moves a guest (live migration) or switches the backend of an endpoint,
it asks the frontend to stop sending work and to let what is in flight finish: the
analogue of Xen's toolstack writing ``suspend`` to the guest's ``control/shutdown`` node
and waiting for the acknowledgement. Here the request is the control page's
``suspend_request`` (owned by the host tooling) and the answers are the bank links'
``suspend_ack`` (docs/split-driver.md#suspend).

:func:`request_suspend` writes a new request and waits, bounded, until every bank the
frontend holds (linked under the current backend epoch) has acknowledged it;
:func:`cancel_suspend` withdraws it. The frontend may be a hostile guest, or absent: its
words are only compared, never trusted, and a frontend that does not answer costs the
timeout, then the result names the banks that did not answer.
"""

from __future__ import annotations

import math
import mmap
import os
import time
from dataclasses import dataclass
from pathlib import Path

from fakedev import endpoint_file
from qathw import emulated
from qathw.emulated import qathw_emu_control

DEFAULT_TIMEOUT = 2.0
POLL_INTERVAL = 0.002  # seconds between looks at the acknowledgements
_U32 = 0xFFFF_FFFF
_REQUEST = qathw_emu_control.suspend_request.offset
_EPOCH = qathw_emu_control.backend_epoch.offset
_ACK = emulated.qathw_emu_bank_link.suspend_ack.offset
_LINK_EPOCH = emulated.qathw_emu_bank_link.epoch.offset


@dataclass(frozen=True)
class SuspendResult:
    """What a suspend request came to.

    Attributes:
        path: the endpoint file.
        request: the request's sequence number (nonzero), now in ``suspend_request``.
        backend_epoch: the backend epoch the banks were counted under (0: no backend has
            ever served the file, so no bank can be linked).
        banks: the banks the frontend holds (linked under ``backend_epoch``) when the
            wait ended, ascending.
        acknowledged: those of them that acknowledged ``request``.
        unanswered: those that did not (empty: the frontend is suspended).
        waited: seconds spent waiting.
    """

    path: str
    request: int
    backend_epoch: int
    banks: tuple[int, ...]
    acknowledged: tuple[int, ...]
    unanswered: tuple[int, ...]
    waited: float

    @property
    def complete(self) -> bool:
        """Whether every bank the frontend holds has acknowledged the request."""
        return not self.unanswered


class _ControlPage:
    """The control page of an endpoint file, mapped read-write (and nothing else)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        fd = endpoint_file.open_regular(path, os.O_RDWR)
        try:
            self.info = endpoint_file.read_info(path, fd)
            self._mm = mmap.mmap(fd, emulated.CONTROL_PAGE_SIZE)
        finally:
            os.close(fd)
        self.banks = min(self.info.num_banks, emulated.MAX_COUNTED_BANKS)

    def read(self, offset: int, size: int) -> int:
        return int.from_bytes(self._mm[offset : offset + size], "little")

    def write32(self, offset: int, value: int) -> None:
        self._mm[offset : offset + 4] = value.to_bytes(4, "little")

    def links(self) -> tuple[int, list[tuple[int, int]]]:
        """The backend epoch and each bank's (link epoch, suspend_ack), read as one copy."""
        raw = self._mm[: emulated.LINKS_END]
        epoch = int.from_bytes(raw[_EPOCH : _EPOCH + 8], "little")
        out = []
        for bank in range(self.banks):
            at = emulated.link_offset(bank)
            out.append(
                (
                    int.from_bytes(raw[at + _LINK_EPOCH : at + _LINK_EPOCH + 8], "little"),
                    int.from_bytes(raw[at + _ACK : at + _ACK + 4], "little"),
                )
            )
        return epoch, out

    def close(self) -> None:
        self._mm.close()


def _next_request(previous: int, acks: set[int]) -> int:
    """A sequence number that is not 0, not ``previous``, and no bank's acknowledgement
    already (a stale acknowledgement must never answer a new request). At most 64 banks
    hold one, so this ends within 66 tries whatever a guest wrote."""
    value = previous
    while True:
        value = (value + 1) & _U32
        if value and value != previous and value not in acks:
            return value


def _answers(page: _ControlPage, request: int) -> tuple[int, tuple[int, ...], tuple[int, ...]]:
    epoch, links = page.links()
    held = [b for b, (link, _) in enumerate(links) if epoch and link == epoch]
    acked = tuple(b for b in held if links[b][1] == request)
    return epoch, tuple(held), acked


def request_suspend(
    path: str | os.PathLike[str], timeout: float = DEFAULT_TIMEOUT
) -> SuspendResult:
    """Ask the frontend of ``path`` to suspend, and wait up to ``timeout`` for its answer.

    Writes a new nonzero request into ``suspend_request`` (never the previous one), then
    polls until every bank linked under the current backend epoch has acknowledged it.
    The banks are counted afresh at each look, so a bank the frontend links meanwhile
    must answer too, and a backend that changes meanwhile changes the count. The request
    stays set whatever the outcome: :func:`cancel_suspend` withdraws it.

    Args:
        path: the endpoint file.
        timeout: the most seconds to wait, finite and ``>= 0`` (0: look once).

    Returns:
        The outcome; an idle or absent frontend is an outcome too (``unanswered``
        names its banks), not an error.

    Raises:
        ValueError: ``timeout`` is negative or not finite.
        EndpointFileError: the file is missing, not an endpoint, or of another layout.
    """
    if not (math.isfinite(timeout) and timeout >= 0):
        raise ValueError(f"timeout {timeout!r} is not a number of seconds >= 0")
    page = _ControlPage(path)
    try:
        _, links = page.links()
        request = _next_request(page.read(_REQUEST, 4), {ack for _, ack in links})
        page.write32(_REQUEST, request)
        start = time.monotonic()
        while True:
            epoch, held, acked = _answers(page, request)
            waited = time.monotonic() - start
            if len(acked) == len(held) or waited >= timeout:
                break
            time.sleep(min(POLL_INTERVAL, max(0.0, timeout - waited)))
    finally:
        page.close()
    return SuspendResult(
        path=os.fspath(path),
        request=request,
        backend_epoch=epoch,
        banks=held,
        acknowledged=acked,
        unanswered=tuple(b for b in held if b not in acked),
        waited=waited,
    )


def cancel_suspend(path: str | os.PathLike[str]) -> int:
    """Withdraw the suspend request of ``path``: the frontend resumes sending work.

    Args:
        path: the endpoint file.

    Returns:
        The request withdrawn (0: none was pending).

    Raises:
        EndpointFileError: the file is missing, not an endpoint, or of another layout.
    """
    page = _ControlPage(Path(path))
    try:
        previous = page.read(_REQUEST, 4)
        if previous:
            page.write32(_REQUEST, 0)
    finally:
        page.close()
    return previous


__all__ = ["DEFAULT_TIMEOUT", "SuspendResult", "cancel_suspend", "request_suspend"]
