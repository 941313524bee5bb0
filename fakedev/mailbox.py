"""The PF agent behind a gen4 VF's PMISC mailbox.

On hardware the VF's PF/VF registers are backed by the PF driver, which answers in its
interrupt handler. Here the agent polls them each device step and does what the Linux PF
does (docs/hardware.md#pfvf-mailbox; ``adf_gen4_pfvf_recv``, ``adf_gen4_pfvf_send``,
``adf_pfvf_pf_msg.c``):

* VM2PF with INT set is a request. The PF acknowledges it first (clears INT), whatever
  PF2VM holds, and answers later: the answer goes out on a later step. A VF that reads
  PF2VM right after the acknowledgement (DPDK's way) sees what was there before.
* The PF sends one message at a time: it writes PF2VM (INT set) without looking at what
  is there, then waits for the VF to clear INT, up to 1 s (``ADF_PFVF_MSG_ACK_MAX_DELAY_US``);
  after that the next message overwrites an unacknowledged one.
* RESTARTING goes to a VF that sent INIT; the PF waits for RESTARTING_COMPLETE only from a
  VF of protocol version 5 or later. RESTARTED and FATAL_ERROR go only to a VF that sent
  INIT and negotiated version 5 or later (``adf_pf2vf_notify_restarted``,
  ``adf_pf2vf_notify_fatal_error``); RESTARTING_COMPLETE ends the VF's INIT.

Handled: COMPAT_VER_REQ and the legacy VERSION_REQ, block requests for the capability
summary (type 2) and the ring-to-service map (type 3) with their CRC-8, RP_RESET,
INIT / SHUTDOWN / RESTARTING_COMPLETE.

What the PF remembers of the VF (the version it negotiated, whether it sent INIT) must
outlive a backend process, as the kernel's VF migration state carries ``vf_info->init``
and ``vf_info->vf_compat_ver`` (``adf_gen4_vf_mig.c``, ``adf_gen4_vfmig_save_generic``):
the agent mirrors both into the control page's ``pf_state`` whenever they change, and a
new backend adopts them (:meth:`PfAgent.adopt`; docs/split-driver.md#adoption).
"""

from __future__ import annotations

import struct
import time
from collections import deque
from collections.abc import Callable

from qathw.transport import pfvf
from qathw.transport.csr import CsrLayout
from qathw.transport.pfvf import BlkError, BlkRespType, Pf2VfType, RpResetResult, Vf2PfType

ACK_TIMEOUT = 1.0  # ADF_PFVF_MSG_ACK_MAX_DELAY_US: how long the PF waits for the VF's ack


class PfAgent:
    """The PF side of one VF's mailbox.

    Args:
        pmisc: the PMISC window as 32-bit words.
        layout: the generation's CSR layout (mailbox offsets).
        banks: banks of the VF (RP_RESET range).
        ring_service_map: the map served as block type 3.
        capabilities: the capability word served in block type 2.
        on_rp_reset: resets one bank; returns False if it could not.
        clock: monotonic clock (the acknowledgement timeout).
        pf_state: the control page's ``pf_state`` bytes (``vf_compat``, ``vf_init``), kept
            equal to the agent's memory of the VF; ``None``: kept nowhere.
    """

    def __init__(
        self,
        pmisc: memoryview,
        layout: CsrLayout,
        banks: int,
        ring_service_map: int,
        capabilities: int,
        on_rp_reset: Callable[[int], bool],
        clock: Callable[[], float] = time.monotonic,
        pf_state: memoryview | None = None,
    ) -> None:
        if layout.vintmsk_pf2vm is None:
            raise ValueError("the PF agent speaks the gen4 mailbox only")
        self._pmisc = pmisc
        self._i_pf2vm = layout.pf2vm >> 2
        self._i_vm2pf = layout.vm2pf >> 2
        self._banks = banks
        self._on_rp_reset = on_rp_reset
        self._pf_state = pf_state
        self._vf_compat = 0
        self._vf_init = False
        self.restart_acknowledged = False
        self.restarting = False  # waiting for this VF's RESTARTING_COMPLETE
        self._clock = clock
        self._sent_at: float | None = None  # when PF2VM was last written, until acknowledged
        self._outbox: deque[int] = deque()
        self._blocks: dict[int, bytes] = {
            pfvf.BlockType.CAP_SUMMARY: bytes((pfvf.CAPABILITIES_VERSION, 8))
            + struct.pack("<II", 0, capabilities),
            pfvf.BlockType.RING_SVC_MAP: bytes((pfvf.RING_SVC_MAP_VERSION, 2))
            + struct.pack("<H", ring_service_map),
        }

    # --- the PF's memory of the VF, mirrored into the control page ---------------------------

    @property
    def vf_compat(self) -> int:
        """The PF/VF protocol version the VF negotiated (0: none, or the legacy request)."""
        return self._vf_compat

    @vf_compat.setter
    def vf_compat(self, value: int) -> None:
        self._vf_compat = value & 0xFF  # the VF's byte (COMPAT_VER_REQ data bits 7:0)
        self._mirror()

    @property
    def vf_init(self) -> bool:
        """Whether the VF sent INIT (and no SHUTDOWN or RESTARTING_COMPLETE since)."""
        return self._vf_init

    @vf_init.setter
    def vf_init(self, value: bool) -> None:
        self._vf_init = bool(value)
        self._mirror()

    def _mirror(self) -> None:
        mirror = self._pf_state
        if mirror is not None:
            mirror[0] = self._vf_compat
            mirror[1] = int(self._vf_init)

    def adopt(self, vf_compat: int, vf_init: int) -> None:
        """Take over what an earlier backend's agent remembered of the VF.

        The values come from the shared control page, which a guest can write: a version
        this PF does not speak, or an INIT flag that is neither 0 nor 1, reads as none.

        Args:
            vf_compat: the recorded version (``pf_state.vf_compat``).
            vf_init: the recorded INIT flag (``pf_state.vf_init``).
        """
        self._vf_compat = vf_compat if 0 <= vf_compat <= pfvf.COMPAT_THIS_VERSION else 0
        self._vf_init = vf_init == 1
        self._mirror()

    def notify(self, msg_type: Pf2VfType) -> None:
        """Queue a PF-initiated message as it is, whoever the VF is (tests)."""
        self._outbox.append(pfvf.encode(msg_type))

    def notify_restarting(self) -> bool:
        """RESTARTING to the VF if it sent INIT (``adf_pf2vf_notify_restarting``).

        Returns:
            Whether the PF now waits for RESTARTING_COMPLETE (a VF of version 5 or later).
        """
        self.restart_acknowledged = False
        self.restarting = False
        if not self.vf_init:
            return False
        self._outbox.append(pfvf.encode(Pf2VfType.RESTARTING))
        self.restarting = self.vf_compat >= pfvf.COMPAT_FALLBACK
        return self.restarting

    def notify_restarted(self) -> None:
        """RESTARTED, only to a VF that sent INIT with version 5 or later."""
        if self.vf_init and self.vf_compat >= pfvf.COMPAT_FALLBACK:
            self._outbox.append(pfvf.encode(Pf2VfType.RESTARTED))

    def notify_fatal_error(self) -> None:
        """FATAL_ERROR, only to a VF that sent INIT with version 5 or later."""
        if self.vf_init and self.vf_compat >= pfvf.COMPAT_FALLBACK:
            self._outbox.append(pfvf.encode(Pf2VfType.FATAL_ERROR))

    def delivered(self) -> bool:
        """Whether every queued message went out and the last one was acknowledged, or
        the PF gave up waiting for that (each send waits for its acknowledgement)."""
        if self._outbox:
            return False
        sent_at = self._sent_at
        return (
            not self._pmisc[self._i_pf2vm] & pfvf.PFVF_INT
            or sent_at is None
            or self._clock() - sent_at >= ACK_TIMEOUT
        )

    def reset_channel(self) -> None:
        """Drop queued messages and clear both registers (a new backend, a new function)."""
        self._outbox.clear()
        self._sent_at = None
        self._pmisc[self._i_pf2vm] = 0
        self._pmisc[self._i_vm2pf] = 0

    def step(self) -> int:
        """Send the next queued message when PF2VM may be written, then acknowledge and
        handle one request (its answer goes out on a later step).

        Returns:
            Messages moved (0 when idle).
        """
        pmisc = self._pmisc
        work = 0
        if self._outbox:
            sent_at = self._sent_at
            waiting = (
                pmisc[self._i_pf2vm] & pfvf.PFVF_INT
                and sent_at is not None
                and self._clock() - sent_at < ACK_TIMEOUT
            )
            if not waiting:
                pmisc[self._i_pf2vm] = self._outbox.popleft()  # without looking: overwrite
                self._sent_at = self._clock()
                work += 1
        word = pmisc[self._i_vm2pf]
        if not word & pfvf.PFVF_INT:
            return work
        pmisc[self._i_vm2pf] = word & ~pfvf.PFVF_INT  # acknowledge first ...
        response = self._handle(word)
        if response:
            self._outbox.append(response)  # ... answer later
        return work + 1

    def _handle(self, word: int) -> int:
        """The answer to one VF message, or 0 for a notification or an ignored message."""
        if not word & pfvf.PFVF_MSGORIGIN_SYSTEM:
            return 0  # legacy non-system message: acknowledged, ignored (as Linux does)
        kind = pfvf.msg_type(word)
        data = pfvf.msg_data(word)
        if kind == Vf2PfType.COMPAT_VER_REQ:
            vf = data & 0xFF
            if vf == 0:
                result = pfvf.CompatResult.INCOMPATIBLE
            elif vf <= pfvf.COMPAT_THIS_VERSION:
                result = pfvf.CompatResult.COMPATIBLE
            else:
                result = pfvf.CompatResult.UNKNOWN
            self.vf_compat = vf
            return pfvf.encode(
                Pf2VfType.VERSION_RESP,
                pfvf.COMPAT_THIS_VERSION | int(result) << pfvf.VERSION_RESP_RESULT_SHIFT,
            )
        if kind == Vf2PfType.VERSION_REQ:
            self.vf_compat = 0
            return pfvf.encode(
                Pf2VfType.VERSION_RESP,
                pfvf.LEGACY_VERSION
                | int(pfvf.CompatResult.COMPATIBLE) << pfvf.VERSION_RESP_RESULT_SHIFT,
            )
        if kind == Vf2PfType.INIT:
            self.vf_init = True
            return 0
        if kind == Vf2PfType.SHUTDOWN:
            self.vf_init = False
            return 0
        if kind == Vf2PfType.RESTARTING_COMPLETE:
            self.vf_init = False
            self.restarting = False
            self.restart_acknowledged = True
            return 0
        if kind == Vf2PfType.RP_RESET:
            bank = data & pfvf.RP_RESET_BANK_MASK
            if data >> pfvf.RP_RESET_RSVD_SHIFT:
                reset = RpResetResult.NOT_SUPPORTED
            elif bank >= self._banks:
                reset = RpResetResult.INVALID_BANK
            elif self._on_rp_reset(bank):
                reset = RpResetResult.SUCCESS
            else:
                reset = RpResetResult.TIMEOUT
            return pfvf.encode(Pf2VfType.RP_RESET_RESP, int(reset))
        block = pfvf.decode_block_request(word)
        if block is not None:
            return self._block_response(*block)
        return 0  # unknown type: acknowledged without an answer, as the kernel PF does

    def _block_response(self, block_type: int, index: int, crc: bool) -> int:
        blob = self._blocks.get(block_type)
        if blob is None:
            return pfvf.block_response(BlkRespType.ERROR, BlkError.INVALID_BLOCK_TYPE)
        cls = pfvf.block_class_for(block_type)
        if len(blob) >= cls.byte_max + 1:
            return pfvf.block_response(BlkRespType.ERROR, BlkError.PAYLOAD_TRUNCATED)
        if index >= len(blob):
            return pfvf.block_response(BlkRespType.ERROR, BlkError.INVALID_BYTE_NUM_REQ)
        if crc:
            return pfvf.block_response(BlkRespType.CRC, pfvf.crc8(blob[: index + 1]))
        return pfvf.block_response(BlkRespType.DATA, blob[index])
