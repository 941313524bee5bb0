"""The PF agent behind a gen4 VF's PMISC mailbox.

On hardware the VF's PF/VF registers are backed by the PF driver, which answers in its
interrupt handler. Here the agent polls them each device step (docs/hardware.md#pfvf-mailbox):

* VM2PF with INT set is a request. The agent puts its answer in PF2VM (INT set) and only
  then clears INT in VM2PF, which satisfies both driver styles (Linux waits for the PF2VM
  interrupt; DPDK reads PF2VM as soon as its request is acknowledged).
* A request is taken only while PF2VM is free (INT clear): the VF must acknowledge a
  message before it gets the next, so a notification is never overwritten.
* Notifications the PF starts (RESTARTING, RESTARTED, FATAL_ERROR) wait in a queue until
  PF2VM is free.

Handled: COMPAT_VER_REQ and the legacy VERSION_REQ, block requests for the capability
summary (type 2) and the ring-to-service map (type 3) with their CRC-8, RP_RESET,
INIT / SHUTDOWN / RESTARTING_COMPLETE.
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Callable

from qathw.transport import pfvf
from qathw.transport.csr import CsrLayout
from qathw.transport.pfvf import BlkError, BlkRespType, Pf2VfType, RpResetResult, Vf2PfType


class PfAgent:
    """The PF side of one VF's mailbox.

    Args:
        pmisc: the PMISC window as 32-bit words.
        layout: the generation's CSR layout (mailbox offsets).
        banks: banks of the VF (RP_RESET range).
        ring_service_map: the map served as block type 3.
        capabilities: the capability word served in block type 2.
        on_rp_reset: resets one bank; returns False if it could not.
    """

    def __init__(
        self,
        pmisc: memoryview,
        layout: CsrLayout,
        banks: int,
        ring_service_map: int,
        capabilities: int,
        on_rp_reset: Callable[[int], bool],
    ) -> None:
        if layout.vintmsk_pf2vm is None:
            raise ValueError("the PF agent speaks the gen4 mailbox only")
        self._pmisc = pmisc
        self._i_pf2vm = layout.pf2vm >> 2
        self._i_vm2pf = layout.vm2pf >> 2
        self._banks = banks
        self._on_rp_reset = on_rp_reset
        self.vf_compat = 0
        self.vf_init = False
        self.restart_acknowledged = False
        self._outbox: deque[int] = deque()
        self._blocks: dict[int, bytes] = {
            pfvf.BlockType.CAP_SUMMARY: bytes((pfvf.CAPABILITIES_VERSION, 8))
            + struct.pack("<II", 0, capabilities),
            pfvf.BlockType.RING_SVC_MAP: bytes((pfvf.RING_SVC_MAP_VERSION, 2))
            + struct.pack("<H", ring_service_map),
        }

    def notify(self, msg_type: Pf2VfType) -> None:
        """Queue a PF-initiated message (RESTARTING, RESTARTED, FATAL_ERROR)."""
        self._outbox.append(pfvf.encode(msg_type))

    def reset_channel(self) -> None:
        """Drop queued notifications and clear both registers (a new backend starts clean)."""
        self._outbox.clear()
        self._pmisc[self._i_pf2vm] = 0
        self._pmisc[self._i_vm2pf] = 0

    def step(self) -> int:
        """Deliver one queued notification and answer one request, where possible.

        Returns:
            Messages moved (0 when idle).
        """
        pmisc = self._pmisc
        work = 0
        if self._outbox and not pmisc[self._i_pf2vm] & pfvf.PFVF_INT:
            pmisc[self._i_pf2vm] = self._outbox.popleft()
            work += 1
        word = pmisc[self._i_vm2pf]
        if not word & pfvf.PFVF_INT or pmisc[self._i_pf2vm] & pfvf.PFVF_INT:
            return work
        response = self._handle(word)
        if response:
            pmisc[self._i_pf2vm] = response
        pmisc[self._i_vm2pf] = word & ~pfvf.PFVF_INT
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
