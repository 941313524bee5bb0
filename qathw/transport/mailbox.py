"""The VF side of the gen4 PF/VF mailbox (docs/hardware.md#pfvf-mailbox).

Requests go out on VM2PF and are acknowledged by the PF clearing INT; the answer is then
in PF2VM, which the VF acknowledges by clearing INT there. The PF may also speak first:
RESTARTING, RESTARTED and FATAL_ERROR arrive on PF2VM at any time. :meth:`Mailbox.poll`
picks those up (out of band: the endpoint calls it when a look is due, never per request)
and hands them to the subscribers, in order, after acknowledging them; the mailbox itself
answers RESTARTING with RESTARTING_COMPLETE once every subscriber has quiesced (a PF of
protocol version 5 or later waits for it), which also ends this VF's INIT: the PF then
disables SR-IOV, and the function is gone until the endpoint reopens it
(docs/hardware.md#device-restart). A PF2VM that reads all-ones is a function that is gone
(:attr:`Mailbox.gone`).

The PF acknowledges a request first and answers later, overwriting PF2VM without looking
(Linux ``adf_gen4_pfvf_recv``, ``adf_gen4_pfvf_send``): so after the acknowledgement the
VF waits for PF2VM INT with the answer's type, and never trusts what PF2VM held before.

A send that is waiting for its acknowledgement keeps taking notifications, so a PF that
holds a notification in PF2VM (and therefore will not take the request yet) never
deadlocks with the VF.
"""

from __future__ import annotations

import enum
import struct
import time
from collections import deque
from collections.abc import Callable

from qathw.errors import MailboxError
from qathw.mmio import Mmio
from qathw.transport import pfvf
from qathw.transport.csr import CsrLayout
from qathw.transport.pfvf import BlkRespType, Pf2VfType, RingService, Vf2PfType

ALL_ONES = 0xFFFF_FFFF  # a read of a function that is gone
DEFAULT_TIMEOUT = 1.0  # generous: a fake backend may be asleep in its idle back-off


class PfEvent(enum.Enum):
    """What the PF can announce on its own."""

    RESTARTING = "restarting"
    RESTARTED = "restarted"
    FATAL_ERROR = "fatal error"


_NOTIFICATIONS = {
    Pf2VfType.RESTARTING: PfEvent.RESTARTING,
    Pf2VfType.RESTARTED: PfEvent.RESTARTED,
    Pf2VfType.FATAL_ERROR: PfEvent.FATAL_ERROR,
}

_NO_BACKEND_HINT = "is the PF (or the fakedev backend: 'python -m fakedev serve <file>') running?"


def _default_idle() -> None:
    time.sleep(20e-6)


class Mailbox:
    """A VF's PF/VF mailbox on its PMISC BAR.

    Args:
        pmisc: the PMISC BAR.
        layout: the generation's layout (gen4 only: it has separate PF2VM/VM2PF).
        timeout: seconds to wait for an acknowledgement or an answer.
        idle: called while waiting (default: a short sleep); a test driving the device
            with ``step()`` passes the device's ``step``.
        answer_restarting: send RESTARTING_COMPLETE as soon as the subscribers have
            quiesced (a VF driven by one process). False: the owner calls
            :meth:`complete_restarting` itself — the section broker does, once every
            holder it relayed RESTARTING to has quiesced.

    Raises:
        MailboxError: the generation has no gen4-style mailbox.
    """

    def __init__(
        self,
        pmisc: Mmio,
        layout: CsrLayout,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        idle: Callable[[], object] | None = None,
        answer_restarting: bool = True,
    ) -> None:
        if layout.vintmsk_pf2vm is None:
            raise MailboxError(
                f"{layout.generation.traits.label} has no separate PF2VM/VM2PF mailbox",
                hint="qathw speaks the gen4 PF/VF protocol only",
            )
        self._mmio = pmisc
        self._pf2vm = layout.pf2vm
        self._vm2pf = layout.vm2pf
        self.timeout = timeout
        self._idle = idle or _default_idle
        self._answer_restarting = answer_restarting
        self._subscribers: list[Callable[[PfEvent], None]] = []
        self._events: deque[PfEvent] = deque()
        self._dispatching = False
        self.pf_version: int | None = None
        self._initialised = False
        self._vintmsk = layout.vintmsk_pf2vm
        self.restarting = False
        self.failed = False
        self.gone = False
        pmisc.write32(layout.vintmsk_pf2vm, 1)  # masked: we poll, as qatlib does

    def reset(self) -> None:
        """Start over on a new function (after a restart): nothing negotiated, nothing
        pending, PF2VF interrupts masked again (a new function's registers are 0)."""
        self._events.clear()
        self.pf_version = None
        self._initialised = False
        self.restarting = self.failed = self.gone = False
        self._mmio.write32(self._vintmsk, 1)

    @property
    def initialised(self) -> bool:
        """True between :meth:`init` and :meth:`shutdown`."""
        return self._initialised

    # --- subscribers ----------------------------------------------------------------------

    def subscribe(self, callback: Callable[[PfEvent], None]) -> None:
        """Call ``callback(event)`` for every RESTARTING / RESTARTED / FATAL_ERROR."""
        self._subscribers.append(callback)

    def unsubscribe(self, callback: Callable[[PfEvent], None]) -> None:
        if callback in self._subscribers:
            self._subscribers.remove(callback)

    # --- receiving --------------------------------------------------------------------------

    def _take_notification(self) -> bool:
        """Acknowledge and queue a PF-initiated message waiting in PF2VM, if there is one."""
        word = self._mmio.read32(self._pf2vm)
        if not word & pfvf.PFVF_INT:
            return False
        if word == ALL_ONES:
            self.gone = True  # not a message: the function is gone (PCIe reads all-ones)
            return False
        event = _NOTIFICATIONS.get(pfvf.msg_type(word))  # type: ignore[call-overload]
        if event is None:
            return False  # an answer to a request: the sender reads it
        self._mmio.write32(self._pf2vm, word & ~pfvf.PFVF_INT & 0xFFFF_FFFF)
        self._events.append(event)
        return True

    def poll(self) -> list[PfEvent]:
        """Take PF notifications and hand them to subscribers.

        Returns:
            The events handled by this call (empty almost always).
        """
        handled: list[PfEvent] = []
        while self._take_notification():
            pass
        if self._dispatching:
            return handled  # the outer poll() delivers them, in order
        self._dispatching = True
        try:
            while self._events:
                event = self._events.popleft()
                handled.append(event)
                self._handle(event)
        finally:
            self._dispatching = False
        return handled

    def _handle(self, event: PfEvent) -> None:
        if event is PfEvent.RESTARTING:
            self.restarting = True
            self._notify(event)  # subscribers quiesce first ...
            if self._answer_restarting:
                self.complete_restarting()  # ... then we say so
        elif event is PfEvent.RESTARTED:
            self.restarting = False
            self.failed = False
            self._notify(event)  # the endpoint reopens the function and sends INIT again
        else:
            self.failed = True
            self._notify(event)

    def complete_restarting(self) -> None:
        """RESTARTING_COMPLETE: this VF has quiesced (only to a PF of version 5 or later,
        which waits for it; ``adf_pf2vf_wait_for_restarting_complete``). It ends INIT on
        the PF side. A PF that stopped waiting and removed the function is not an error.
        """
        if self.pf_version is None or self.pf_version >= pfvf.COMPAT_FALLBACK:
            try:
                self._send(pfvf.encode(Vf2PfType.RESTARTING_COMPLETE))
            except MailboxError:
                pass  # the PF stopped waiting and removed the function: nothing to say
            self._initialised = False

    def _notify(self, event: PfEvent) -> None:
        for callback in list(self._subscribers):
            callback(event)

    # --- sending ----------------------------------------------------------------------------

    def _send(self, word: int, expect: Pf2VfType | None = None) -> int:
        """Send ``word``; wait for the acknowledgement and, if ``expect``, the answer."""
        mmio = self._mmio
        mmio.write32(self._vm2pf, word)
        deadline = time.monotonic() + self.timeout
        while (ack := mmio.read32(self._vm2pf)) & pfvf.PFVF_INT:
            if ack == ALL_ONES:
                self.gone = True
                raise MailboxError(
                    f"the function is gone (its registers read all-ones) while sending "
                    f"message {word:#010x}",
                    hint="the device is restarting; it is reopened when it comes back",
                )
            self._take_notification()
            if time.monotonic() > deadline:
                mmio.write32(self._vm2pf, 0)  # withdraw it, so it is not taken later
                raise MailboxError(
                    f"the PF did not acknowledge message {word:#010x} within {self.timeout} s",
                    hint=_NO_BACKEND_HINT,
                )
            self._idle()
        if expect is None:
            return 0
        while True:
            answer = mmio.read32(self._pf2vm)
            if answer & pfvf.PFVF_INT and pfvf.msg_type(answer) == expect:
                mmio.write32(self._pf2vm, answer & ~pfvf.PFVF_INT & 0xFFFF_FFFF)
                return answer
            self._take_notification()
            if self.gone:
                raise MailboxError(
                    f"the function went away before answering message {word:#010x}",
                    hint="the device is restarting; it is reopened when it comes back",
                )
            if time.monotonic() > deadline:
                raise MailboxError(
                    f"the PF acknowledged message {word:#010x} but sent no {expect.name}",
                    hint=_NO_BACKEND_HINT,
                )
            self._idle()

    def negotiate(self) -> int:
        """COMPAT_VER_REQ: agree on a protocol version.

        Returns:
            The PF's compat version.

        Raises:
            MailboxError: the PF calls this VF incompatible, or does not answer.
        """
        answer = self._send(
            pfvf.encode(Vf2PfType.COMPAT_VER_REQ, pfvf.COMPAT_THIS_VERSION),
            Pf2VfType.VERSION_RESP,
        )
        data = pfvf.msg_data(answer)
        version = data & pfvf.VERSION_RESP_VERS_MASK
        result = (data >> pfvf.VERSION_RESP_RESULT_SHIFT) & pfvf.VERSION_RESP_RESULT_MASK
        if result == pfvf.CompatResult.INCOMPATIBLE or (
            result == pfvf.CompatResult.UNKNOWN and version < pfvf.COMPAT_RING_TO_SVC_MAP
        ):
            raise MailboxError(
                f"the PF (PF/VF protocol version {version}) refuses this VF (version "
                f"{pfvf.COMPAT_THIS_VERSION})",
                hint="update the host's QAT driver",
            )
        self.pf_version = version
        return version

    def read_block(self, block_type: int) -> bytes:
        """Fetch a block message byte by byte and check its CRC-8.

        Returns:
            The whole block: version byte, length byte, payload.

        Raises:
            MailboxError: the PF answers with an error, or the CRC does not match.
        """

        def fetch(index: int, crc: bool = False) -> int:
            answer = self._send(
                pfvf.block_request(block_type, index, crc=crc), Pf2VfType.BLKMSG_RESP
            )
            kind, value = pfvf.decode_block_response(answer)
            want = BlkRespType.CRC if crc else BlkRespType.DATA
            if kind != want:
                reason = (
                    pfvf.BlkError(value).name.lower().replace("_", " ")
                    if kind == BlkRespType.ERROR and value in pfvf.BlkError._value2member_map_
                    else f"response type {kind}"
                )
                raise MailboxError(
                    f"the PF refused byte {index} of block message type {block_type}: {reason}",
                    hint="the PF does not provide this block",
                )
            return value

        version = fetch(0)
        length = fetch(1)
        blob = bytes([version, length] + [fetch(2 + i) for i in range(length)])
        crc = fetch(len(blob) - 1, crc=True)
        if crc != pfvf.crc8(blob):
            raise MailboxError(
                f"block message type {block_type} failed its CRC check "
                f"(PF {crc:#04x}, computed {pfvf.crc8(blob):#04x})",
                hint="retry; a persistent mismatch means a broken PF/VF channel",
            )
        return blob

    def ring_service_map(self) -> tuple[RingService, ...]:
        """The service of each bank (block type 3); a map of 0 means the default."""
        blob = self.read_block(pfvf.BlockType.RING_SVC_MAP)
        if len(blob) < 4:
            raise MailboxError(f"ring-to-service map block is {len(blob)} bytes, need 4")
        (value,) = struct.unpack_from("<H", blob, 2)
        return pfvf.decode_ring_service_map(value or pfvf.DEFAULT_RING_SVC_MAP)

    def capabilities(self) -> int:
        """The capability word (block type 2, version 2 or later; 0 from a v1 block)."""
        blob = self.read_block(pfvf.BlockType.CAP_SUMMARY)
        if blob[0] >= 2 and len(blob) >= 10:
            return int(struct.unpack_from("<I", blob, 6)[0])
        return 0

    def init(self) -> None:
        """INIT: tell the PF this VF is up (it then sends RESTARTING before a reset)."""
        self._send(pfvf.encode(Vf2PfType.INIT))
        self._initialised = True

    def shutdown(self) -> None:
        """SHUTDOWN: tell the PF this VF is going away."""
        self._send(pfvf.encode(Vf2PfType.SHUTDOWN))
        self._initialised = False

    def reset_ring_pair(self, bank: int) -> None:
        """RP_RESET: the PF clears the bank's rings (in-flight work there is dropped).

        Raises:
            MailboxError: the PF refused (bad bank, not supported, timed out).
        """
        if not 0 <= bank <= pfvf.RP_RESET_BANK_MASK:
            raise MailboxError(f"bank {bank} cannot be named in RP_RESET (0..3)")
        answer = self._send(pfvf.encode(Vf2PfType.RP_RESET, bank), Pf2VfType.RP_RESET_RESP)
        result = pfvf.msg_data(answer)
        if result != pfvf.RpResetResult.SUCCESS:
            name = (
                pfvf.RpResetResult(result).name.lower().replace("_", " ")
                if result in pfvf.RpResetResult._value2member_map_
                else f"code {result}"
            )
            raise MailboxError(f"ring-pair reset of bank {bank} failed: {name}")
