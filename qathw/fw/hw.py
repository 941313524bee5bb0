"""Slice configuration blocks that live in content descriptors (``icp_qat_hw.h``).

Cipher config word, auth setup block, hash state sizes, and the gen2 compression slice
config word. Sources: kernel and DPDK ``icp_qat_hw.h`` (docs/hardware.md#content-descriptors).
"""

from __future__ import annotations

import ctypes
import enum
import struct

from qathw.fw.spans import fields_struct, span


class CipherAlgo(enum.IntEnum):
    """``icp_qat_hw_cipher_algo``."""

    NULL = 0
    DES = 1
    TDES = 2  # ICP_QAT_HW_CIPHER_ALGO_3DES
    AES128 = 3
    AES192 = 4
    AES256 = 5
    ARC4 = 6
    KASUMI = 7
    SNOW_3G_UEA2 = 8
    ZUC_3G_128_EEA3 = 9
    SM4 = 10
    CHACHA20_POLY1305 = 11
    ZUC_256 = 12


class CipherMode(enum.IntEnum):
    """``icp_qat_hw_cipher_mode``."""

    ECB = 0
    CBC = 1
    CTR = 2
    F8 = 3
    AEAD = 4
    XTS = 6


class CipherDir(enum.IntEnum):
    ENCRYPT = 0
    DECRYPT = 1


class CipherConvert(enum.IntEnum):
    NO_CONVERT = 0
    KEY_CONVERT = 1  # the slice derives the decryption key schedule itself


class AuthAlgo(enum.IntEnum):
    """``icp_qat_hw_auth_algo`` (DPDK numbering above 14)."""

    NULL = 0
    SHA1 = 1
    MD5 = 2
    SHA224 = 3
    SHA256 = 4
    SHA384 = 5
    SHA512 = 6
    AES_XCBC_MAC = 7
    AES_CBC_MAC = 8
    AES_F9 = 9
    GALOIS_128 = 10
    GALOIS_64 = 11
    KASUMI_F9 = 12
    SNOW_3G_UIA2 = 13
    ZUC_3G_128_EIA3 = 14
    SM3 = 15
    SHA3_224 = 16
    SHA3_256 = 17
    SHA3_384 = 18
    SHA3_512 = 19
    AES_128_CMAC = 22


class AuthMode(enum.IntEnum):
    """``icp_qat_hw_auth_mode``: 0 plain hash, 1 HMAC from precomputed states, 2 HMAC from key."""

    MODE0 = 0
    MODE1 = 1
    MODE2 = 2


# --- cipher config word -----------------------------------------------------------------

CIPHER_ALGO_BITPOS, CIPHER_ALGO_MASK = 0, 0xF
CIPHER_MODE_BITPOS, CIPHER_MODE_MASK = 4, 0xF
CIPHER_DIR_BITPOS = 8
CIPHER_CONVERT_BITPOS = 9
CIPHER_AEAD_HASH_CMP_LEN_BITPOS, CIPHER_AEAD_HASH_CMP_LEN_MASK = 10, 0x1F


def cipher_config(
    mode: CipherMode,
    algo: CipherAlgo,
    convert: CipherConvert = CipherConvert.NO_CONVERT,
    direction: CipherDir = CipherDir.ENCRYPT,
    aead_hash_cmp_len: int = 0,
) -> int:
    """``ICP_QAT_HW_CIPHER_CONFIG_BUILD`` (plus the single-pass AEAD compare length)."""
    return (
        ((mode & CIPHER_MODE_MASK) << CIPHER_MODE_BITPOS)
        | ((algo & CIPHER_ALGO_MASK) << CIPHER_ALGO_BITPOS)
        | ((convert & 1) << CIPHER_CONVERT_BITPOS)
        | ((direction & 1) << CIPHER_DIR_BITPOS)
        | ((aead_hash_cmp_len & CIPHER_AEAD_HASH_CMP_LEN_MASK) << CIPHER_AEAD_HASH_CMP_LEN_BITPOS)
    )


def cipher_config_upper(aad_size: int) -> int:
    """``ICP_QAT_HW_CIPHER_CONFIG_BUILD_UPPER``: the AAD length word of UCS single-pass."""
    return (((aad_size >> 8) & 0x3F) << 16) | ((aad_size & 0xFF) << 24)


class icp_qat_hw_cipher_config(ctypes.LittleEndianStructure):
    """Legacy cipher slice config (8 bytes), followed by the key in the CD."""

    _fields_ = [("val", ctypes.c_uint32), ("reserved", ctypes.c_uint32)]


class icp_qat_hw_ucs_cipher_config(ctypes.LittleEndianStructure):
    """Gen4 UCS cipher slice config (16 bytes), followed by the key padded to 16."""

    _fields_ = [("val", ctypes.c_uint32), ("reserved", ctypes.c_uint32 * 3)]


# --- auth setup -------------------------------------------------------------------------

AUTH_ALGO_BITPOS, AUTH_ALGO_MASK = 0, 0xF
AUTH_MODE_BITPOS, AUTH_MODE_MASK = 4, 0xF
AUTH_CMP_BITPOS, AUTH_CMP_MASK = 8, 0x7F
AUTH_ALGO_SHA3_BITPOS, AUTH_ALGO_SHA3_MASK = 22, 0x3


def auth_config(mode: AuthMode, algo: AuthAlgo, cmp_len: int) -> int:
    """``ICP_QAT_HW_AUTH_CONFIG_BUILD`` (SHA3 padding fields at their defaults, 0)."""
    return (
        ((mode & AUTH_MODE_MASK) << AUTH_MODE_BITPOS)
        | ((algo & AUTH_ALGO_MASK) << AUTH_ALGO_BITPOS)
        | (((algo >> 4) & AUTH_ALGO_SHA3_MASK) << AUTH_ALGO_SHA3_BITPOS)
        | ((cmp_len & AUTH_CMP_MASK) << AUTH_CMP_BITPOS)
    )


def auth_config_algo(config: int) -> int:
    """The auth algorithm encoded in an auth config word (low nibble plus SHA3 bits)."""
    return (config & AUTH_ALGO_MASK) | (
        ((config >> AUTH_ALGO_SHA3_BITPOS) & AUTH_ALGO_SHA3_MASK) << 4
    )


class icp_qat_hw_auth_config(ctypes.LittleEndianStructure):
    _fields_ = [("config", ctypes.c_uint32), ("reserved", ctypes.c_uint32)]


class icp_qat_hw_auth_counter(ctypes.LittleEndianStructure):
    """The auth counter. ``counter`` is **big-endian** on the wire (kernel: ``__be32``)."""

    _fields_ = [("counter", ctypes.c_uint32), ("reserved", ctypes.c_uint32)]


class icp_qat_hw_auth_setup(ctypes.LittleEndianStructure):
    """Auth setup block (16 bytes); state1 follows it, then state2 (8-byte rounded)."""

    _fields_ = [
        ("auth_config", icp_qat_hw_auth_config),
        ("auth_counter", icp_qat_hw_auth_counter),
    ]


# Hash state sizes in bytes (ICP_QAT_HW_*_STATE1_SZ / STATE2_SZ) and block sizes.
STATE1_SZ = {
    AuthAlgo.SHA1: 20,
    AuthAlgo.SHA224: 32,
    AuthAlgo.SHA256: 32,
    AuthAlgo.SHA384: 64,
    AuthAlgo.SHA512: 64,
    AuthAlgo.MD5: 16,
    AuthAlgo.GALOIS_128: 16,
}
STATE2_SZ = {
    AuthAlgo.SHA1: 20,
    AuthAlgo.SHA224: 32,
    AuthAlgo.SHA256: 32,
    AuthAlgo.SHA384: 64,
    AuthAlgo.SHA512: 64,
    AuthAlgo.MD5: 16,
}
BLOCK_SZ = {
    AuthAlgo.SHA1: 64,
    AuthAlgo.SHA224: 64,
    AuthAlgo.SHA256: 64,
    AuthAlgo.SHA384: 128,
    AuthAlgo.SHA512: 128,
    AuthAlgo.MD5: 64,
}
GALOIS_H_SZ = 16
GALOIS_LEN_A_SZ = 8
GALOIS_E_CTR0_SZ = 16
# GALOIS_128 state2 is H, len(A), E(K, CTR0); len(A) opens with the AAD length, big-endian.
GALOIS_LEN_A_OFFSET = GALOIS_H_SZ
GALOIS_AAD_LEN_FIELD = struct.Struct(">I")

# --- where the fields are in a CD's blocks (byte offsets computed from the layouts) -----
CIPHER_CONFIG_SZ = ctypes.sizeof(icp_qat_hw_cipher_config)  # legacy block: the key follows
UCS_CIPHER_CONFIG_SZ = ctypes.sizeof(icp_qat_hw_ucs_cipher_config)  # UCS block: the key follows
_CIPHER_CONFIG_VAL = span(icp_qat_hw_cipher_config, "val")
# Single pass (UCS): the word after the config value holds the AAD size.
_CIPHER_CONFIG_UPPER = span(icp_qat_hw_ucs_cipher_config, "reserved[0]")
CIPHER_CONFIG_UPPER_OFFSET = _CIPHER_CONFIG_UPPER.offset
AUTH_SETUP_SZ = ctypes.sizeof(icp_qat_hw_auth_setup)  # state1 follows it
_AUTH_CONFIG = span(icp_qat_hw_auth_setup, "auth_config.config")
_AUTH_COUNTER = span(icp_qat_hw_auth_setup, "auth_counter.counter")
AUTH_COUNTER_OFFSET = _AUTH_COUNTER.offset

# At the cipher block's start: the config value.
CIPHER_CONFIG_FIELD = fields_struct(_CIPHER_CONFIG_VAL)
# At CIPHER_CONFIG_UPPER_OFFSET of the cipher block: the upper config word.
CIPHER_CONFIG_UPPER_FIELD = fields_struct(_CIPHER_CONFIG_UPPER)
# At the auth setup's start: the config word.
AUTH_CONFIG_FIELD = fields_struct(_AUTH_CONFIG)
# At AUTH_COUNTER_OFFSET of the auth setup: the counter, big-endian (kernel ``__be32``).
AUTH_COUNTER_FIELD = fields_struct(_AUTH_COUNTER, byte_order=">")

HW_DEFAULT_ALIGNMENT = 8


def round_up(value: int, n: int = HW_DEFAULT_ALIGNMENT) -> int:
    """``QAT_HW_ROUND_UP``: ``value`` rounded up to a multiple of ``n`` (a power of two)."""
    return (value + n - 1) & ~(n - 1)


# Key and block sizes (ICP_QAT_HW_*_KEY_SZ / _BLK_SZ)
DES_KEY_SZ = 8
TDES_KEY_SZ = 24
AES_128_KEY_SZ = 16
AES_192_KEY_SZ = 24
AES_256_KEY_SZ = 32
DES_BLK_SZ = 8
AES_BLK_SZ = 16
CIPHER_MAX_KEY_SZ = 64  # ICP_QAT_HW_AES_256_F8_KEY_SZ


# --- compression slice (gen2 config word) -------------------------------------------------


class CompressionDir(enum.IntEnum):
    COMPRESS = 0
    DECOMPRESS = 1


class CompressionAlgo(enum.IntEnum):
    DEFLATE = 0
    LZS = 1


class CompressionDepth(enum.IntEnum):
    DEPTH_1 = 0
    DEPTH_4 = 1
    DEPTH_8 = 2
    DEPTH_16 = 3


COMPRESSION_DIR_BITPOS, COMPRESSION_DIR_MASK = 4, 0x7
COMPRESSION_DELAYED_MATCH_BITPOS = 16
COMPRESSION_ALGO_BITPOS = 31
COMPRESSION_DEPTH_BITPOS, COMPRESSION_DEPTH_MASK = 28, 0x7
COMPRESSION_FILE_TYPE_BITPOS, COMPRESSION_FILE_TYPE_MASK = 24, 0xF


def compression_config(
    direction: CompressionDir,
    delayed_match: bool,
    algo: CompressionAlgo,
    depth: CompressionDepth,
    file_type: int = 0,
) -> int:
    """``ICP_QAT_HW_COMPRESSION_CONFIG_BUILD`` (gen2 slice config word 0)."""
    return (
        ((direction & COMPRESSION_DIR_MASK) << COMPRESSION_DIR_BITPOS)
        | (int(delayed_match) << COMPRESSION_DELAYED_MATCH_BITPOS)
        | ((algo & 1) << COMPRESSION_ALGO_BITPOS)
        | ((depth & COMPRESSION_DEPTH_MASK) << COMPRESSION_DEPTH_BITPOS)
        | ((file_type & COMPRESSION_FILE_TYPE_MASK) << COMPRESSION_FILE_TYPE_BITPOS)
    )


class icp_qat_hw_compression_config(ctypes.LittleEndianStructure):
    _fields_ = [("val", ctypes.c_uint32), ("reserved", ctypes.c_uint32)]
