"""The gen4 PF/VF message format: register words, message types, block messages, CRC-8.

Pure data and arithmetic, shared by the VF driver (:mod:`qathw.transport.mailbox`) and the
PF agent of the fake device. Sources: kernel ``adf_pfvf_msg.h``, ``adf_pfvf_utils.c``,
``adf_pfvf_vf_proto.c``, ``adf_pfvf_pf_proto.c``; qatlib and DPDK
(docs/hardware.md#pfvf-mailbox).

A gen4 message is one 32-bit word, in the same form both ways::

    bit 0      INT: the sender sets it, the receiver clears it to acknowledge
    bit 1      MSGORIGIN_SYSTEM, always 1
    bits 7:2   type
    bits 31:8  data
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from qathw.fw.common import ASYM_REQ_SZ, REQ_DEFAULT_SZ
from qathw.ids import Generation

PFVF_INT = 0x1
PFVF_MSGORIGIN_SYSTEM = 0x2
MSGTYPE_SHIFT = 2
MSGTYPE_MASK = 0x3F
MSGDATA_SHIFT = 8
MSGDATA_MASK = 0xFFFFFF

COMPAT_THIS_VERSION = 5  # ADF_PFVF_COMPAT_THIS_VERSION (fallback / restarting)
COMPAT_CAPABILITIES = 2
COMPAT_RING_TO_SVC_MAP = 4
# ADF_PFVF_COMPAT_FALLBACK: RESTARTING_COMPLETE, RESTARTED and FATAL_ERROR exist from here on
COMPAT_FALLBACK = 5
LEGACY_VERSION = 0x11  # what a PF answers to the legacy VERSION_REQ


class Vf2PfType(enum.IntEnum):
    """Messages from the VF (``vf2pf_msgtype``)."""

    INIT = 0x03
    SHUTDOWN = 0x04
    VERSION_REQ = 0x05
    COMPAT_VER_REQ = 0x06
    LARGE_BLOCK_REQ = 0x07
    MEDIUM_BLOCK_REQ = 0x08
    SMALL_BLOCK_REQ = 0x09
    RESTARTING_COMPLETE = 0x0A
    RP_RESET = 0x10


class Pf2VfType(enum.IntEnum):
    """Messages from the PF (``pf2vf_msgtype``)."""

    RESTARTING = 0x01
    VERSION_RESP = 0x02
    BLKMSG_RESP = 0x03
    FATAL_ERROR = 0x04
    RESTARTED = 0x05
    RP_RESET_RESP = 0x10


class CompatResult(enum.IntEnum):
    """VERSION_RESP bits [9:8]."""

    COMPATIBLE = 1
    INCOMPATIBLE = 2
    UNKNOWN = 3  # the VF is newer than the PF


class RpResetResult(enum.IntEnum):
    """RP_RESET_RESP data (kernel numbering)."""

    SUCCESS = 0
    NOT_SUPPORTED = 1
    INVALID_BANK = 2
    TIMEOUT = 3


VERSION_RESP_VERS_MASK = 0xFF
VERSION_RESP_RESULT_SHIFT = 8
VERSION_RESP_RESULT_MASK = 0x3
RP_RESET_BANK_MASK = 0x3  # bits [1:0]
RP_RESET_RSVD_SHIFT = 2  # bits [25:2] must be 0


def encode(msg_type: int, data: int = 0) -> int:
    """The register word of a message (with INT and MSGORIGIN set)."""
    if not 0 <= msg_type <= MSGTYPE_MASK:
        raise ValueError(f"message type {msg_type:#x} does not fit 6 bits")
    if not 0 <= data <= MSGDATA_MASK:
        raise ValueError(f"message data {data:#x} does not fit 24 bits")
    return (data << MSGDATA_SHIFT) | (msg_type << MSGTYPE_SHIFT) | PFVF_MSGORIGIN_SYSTEM | PFVF_INT


def msg_type(word: int) -> int:
    """The type field of a register word."""
    return (word >> MSGTYPE_SHIFT) & MSGTYPE_MASK


def msg_data(word: int) -> int:
    """The data field of a register word."""
    return (word >> MSGDATA_SHIFT) & MSGDATA_MASK


# --- block messages (docs/hardware.md#pfvf-mailbox) -------------------------------------

BLKMSG_HEADER_SIZE = 2  # version byte, payload-length byte
BLKMSG_MSG_MAX_SIZE = 128
BLOCK_CRC_REQ = 1 << 9


class BlockType(enum.IntEnum):
    """Block message types the PF provides."""

    CAP_SUMMARY = 0x02
    RING_SVC_MAP = 0x03


class BlkRespType(enum.IntEnum):
    """BLKMSG_RESP data bits [1:0]."""

    DATA = 0
    CRC = 1
    ERROR = 2


class BlkError(enum.IntEnum):
    """BLKMSG_RESP error codes (data bits [9:2] when the type is ERROR)."""

    INVALID_BLOCK_TYPE = 0
    INVALID_BYTE_NUM_REQ = 1
    PAYLOAD_TRUNCATED = 2
    UNSPECIFIED_ERROR = 3


BLKMSG_RESP_TYPE_MASK = 0x3
BLKMSG_RESP_DATA_SHIFT = 2
BLKMSG_RESP_DATA_MASK = 0xFF


@dataclass(frozen=True)
class BlockClass:
    """One size class of block request: how its type and byte fields are packed."""

    msg_type: Vf2PfType
    type_bits: int  # width of the type field at bit 0
    first_type: int  # block type encoded as 0
    byte_shift: int
    byte_bits: int

    @property
    def last_type(self) -> int:
        return self.first_type + (1 << self.type_bits) - 1

    @property
    def byte_max(self) -> int:
        return (1 << self.byte_bits) - 1


# Byte fields end at bit 8 in every class; bit 9 asks for the CRC instead of a byte.
SMALL = BlockClass(Vf2PfType.SMALL_BLOCK_REQ, 4, 0, 4, 5)
MEDIUM = BlockClass(Vf2PfType.MEDIUM_BLOCK_REQ, 3, 16, 3, 6)
LARGE = BlockClass(Vf2PfType.LARGE_BLOCK_REQ, 2, 24, 2, 7)
BLOCK_CLASSES = (SMALL, MEDIUM, LARGE)


def block_class_for(block_type: int) -> BlockClass:
    """The size class that carries ``block_type`` (0..15 small, 16..23 medium, 24..27 large).

    Raises:
        ValueError: no class carries that type.
    """
    for cls in BLOCK_CLASSES:
        if cls.first_type <= block_type <= cls.last_type:
            return cls
    raise ValueError(f"block type {block_type} is not 0..27")


def block_class_of(vf2pf_type: int) -> BlockClass | None:
    """The size class of a VF->PF message type, or ``None`` if it is not a block request."""
    for cls in BLOCK_CLASSES:
        if cls.msg_type == vf2pf_type:
            return cls
    return None


def block_request(block_type: int, index: int, *, crc: bool = False) -> int:
    """The register word asking for byte ``index`` of a block (or, with ``crc``, for the
    CRC over its first ``index + 1`` bytes).

    Raises:
        ValueError: the type or index does not fit the block's size class.
    """
    cls = block_class_for(block_type)
    if not 0 <= index <= cls.byte_max:
        raise ValueError(f"byte {index} does not fit a {cls.msg_type.name} (max {cls.byte_max})")
    data = (block_type - cls.first_type) | (index << cls.byte_shift)
    return encode(cls.msg_type, data | (BLOCK_CRC_REQ if crc else 0))


def decode_block_request(word: int) -> tuple[int, int, bool] | None:
    """``(block_type, index, crc)`` of a block-request word, or ``None`` if it is not one."""
    cls = block_class_of(msg_type(word))
    if cls is None:
        return None
    data = msg_data(word)
    block_type = (data & ((1 << cls.type_bits) - 1)) + cls.first_type
    index = (data >> cls.byte_shift) & ((1 << cls.byte_bits) - 1)
    return block_type, index, bool(data & BLOCK_CRC_REQ)


def block_response(resp_type: BlkRespType, value: int) -> int:
    """A BLKMSG_RESP word carrying a data byte, a CRC or an error code."""
    data = (int(resp_type) & BLKMSG_RESP_TYPE_MASK) | (
        (value & BLKMSG_RESP_DATA_MASK) << BLKMSG_RESP_DATA_SHIFT
    )
    return encode(Pf2VfType.BLKMSG_RESP, data)


def decode_block_response(word: int) -> tuple[int, int]:
    """``(resp_type, value)`` of a BLKMSG_RESP word."""
    data = msg_data(word)
    return data & BLKMSG_RESP_TYPE_MASK, (data >> BLKMSG_RESP_DATA_SHIFT) & BLKMSG_RESP_DATA_MASK


# --- CRC-8 over block messages -----------------------------------------------------------

CRC8_POLYNOMIAL = 0x97
CRC8_INIT = 0xFF


def _crc8_table() -> tuple[int, ...]:
    # MSB-first table, as the kernel's crc8_populate_msb builds it.
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = ((crc << 1) ^ CRC8_POLYNOMIAL) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
        table.append(crc)
    return tuple(table)


_CRC8 = _crc8_table()


def crc8(data: bytes | bytearray, init: int = CRC8_INIT) -> int:
    """CRC-8 of a block message (polynomial 0x97, MSB first, initial value 0xFF)."""
    crc = init
    for byte in data:
        crc = _CRC8[crc ^ byte]
    return crc


# --- ring-to-service map and capabilities (docs/hardware.md#ring-to-service-map) --------


class RingService(enum.IntEnum):
    """Service of a bank in the ring-to-service map (``adf_cfg_common.h``)."""

    UNUSED = 0
    CRYPTO = 1
    COMP = 2
    SYM = 3
    ASYM = 4


RING_SVC_MAP_SHIFT = 3  # ADF_CFG_SERV_RING_PAIR_n_SHIFT = 3n
RING_SVC_MAP_BANKS = 4
RING_SVC_MAP_VERSION = 1
DEFAULT_RING_SVC_MAP = 0x071C  # ASYM, SYM, ASYM, SYM
DC_ONLY_RING_SVC_MAP = 0x0492

# cfg_services names of the ring-to-service map's codes.
_SERVICE_NAMES = {"asym": RingService.ASYM, "sym": RingService.SYM, "dc": RingService.COMP}
# A bank's request slots are its service's message size (PKE's for ASYM, else the default).
ASYM_REQUEST_SIZE = ASYM_REQ_SZ
BULK_REQUEST_SIZE = REQ_DEFAULT_SZ


def decode_ring_service_map(value: int) -> tuple[RingService, ...]:
    """The service of banks 0..3 (``(map >> 3i) & 7``); unknown codes read as UNUSED."""
    out = []
    for bank in range(RING_SVC_MAP_BANKS):
        code = (value >> (RING_SVC_MAP_SHIFT * bank)) & 0x7
        out.append(
            RingService(code) if code in RingService._value2member_map_ else RingService.UNUSED
        )
    return tuple(out)


def encode_ring_service_map(services: tuple[RingService, ...] | list[RingService]) -> int:
    """The 16-bit map of up to four bank services."""
    if len(services) > RING_SVC_MAP_BANKS:
        raise ValueError(f"a ring-to-service map holds {RING_SVC_MAP_BANKS} banks")
    value = 0
    for bank, svc in enumerate(services):
        value |= int(svc) << (RING_SVC_MAP_SHIFT * bank)
    return value


def ring_service_map_from_names(text: str, generation: int = Generation.GEN4) -> int:
    """The map the in-tree PF sends for a ``cfg_services``-style list (``sym;dc``, ``dc``...).

    The list is a set, as for the kernel (``asym;sym`` = ``sym;asym``). Which bank serves
    which service is :meth:`qathw.ids.GenerationTraits.ring_pair_services`, the rule qathw's
    configuration analysis lays a VF's banks out by too: on gen4 ``sym;asym`` gives the
    hardware default ASYM, SYM, ASYM, SYM (0x071C) and ``sym;dc`` COMP, SYM, COMP, SYM;
    one service takes all four banks.

    Args:
        text: the services.
        generation: the PF's generation; fakedev emulates gen4 (4xxx) VFs.

    Raises:
        ValueError: an unknown service name, a repeated one, or more than two.
    """
    names = [n.strip().lower() for n in text.replace(",", ";").split(";") if n.strip()]
    if not names or len(names) > 2 or len(set(names)) != len(names):
        raise ValueError(
            f"'{text}' is not a service list; use one or two of sym, asym, dc (e.g. 'sym;dc')"
        )
    unknown = [n for n in names if n not in _SERVICE_NAMES]
    if unknown:
        raise ValueError(f"unknown service '{unknown[0]}'; use sym, asym or dc")
    banks = Generation(generation).traits.ring_pair_services(names)
    return encode_ring_service_map([_SERVICE_NAMES[name] for name in banks])


def request_size(service: RingService) -> int:
    """Request (TX) message size of a bank serving ``service``: 64 for ASYM, else 128."""
    return ASYM_REQUEST_SIZE if service == RingService.ASYM else BULK_REQUEST_SIZE


class Capability(enum.IntFlag):
    """Bits of the capabilities word (``icp_qat_capabilities_mask``)."""

    SYMMETRIC = 1 << 0
    ASYMMETRIC = 1 << 1
    CIPHER = 1 << 2
    AUTHENTICATION = 1 << 3
    COMPRESSION = 1 << 5
    RAND = 1 << 7
    ZUC = 1 << 8
    SHA3 = 1 << 9
    AES_GCM_SPC = 1 << 16
    CHACHA_POLY = 1 << 17
    LZ4 = 1 << 24
    LZ4S = 1 << 25
    AES_V2 = 1 << 26


CAPABILITIES_VERSION = 2  # v2: {ext_dc_caps u32, capabilities u32}


@dataclass(frozen=True)
class PfFacts:
    """What the broker's handshake with the PF found (the lend reply's ``pf`` record).

    Attributes:
        version: the PF's compat version.
        capabilities: the capability word (``None`` below version 2).
        ring_service_map: the 16-bit ring-to-service map as sent (``None`` below version
            4; 0 means the default, as qatlib reads it).
    """

    version: int
    capabilities: int | None
    ring_service_map: int | None

    @property
    def services(self) -> tuple[RingService, ...] | None:
        """Each bank's service, or ``None`` when the PF sent no map."""
        if self.ring_service_map is None:
            return None
        return decode_ring_service_map(self.ring_service_map or DEFAULT_RING_SVC_MAP)

    @classmethod
    def from_record(cls, record: object) -> PfFacts | None:
        """Facts from the section broker's lend reply (its ``pf`` record).

        Raises:
            ValueError: a record that is not ``None`` and not a well-formed one.
        """
        if record is None:
            return None
        if not isinstance(record, dict):
            raise ValueError("the pf record is not an object")
        doc: dict[str, Any] = record
        caps, svc = doc.get("capabilities"), doc.get("ring_service_map")
        return cls(
            version=int(doc["version"]),
            capabilities=None if caps is None else int(caps),
            ring_service_map=None if svc is None else int(svc),
        )
