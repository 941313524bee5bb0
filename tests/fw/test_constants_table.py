"""The SHRAM constants table is Linux's ``const_tab`` (``adf_admin.c``), byte for byte.

Expected values are typed in from two other upstream sources, never computed from the
table: qatlib's copy of the cipher configs with their offsets (``lac_sym_alg_chain.c``
``const_tab``, "generated from const_tab in adf_admin.c"), qatlib's auth offsets
(``LacSymQat_ConstantsInitLookupTables``) and the initial hash values of FIPS 180-4 and
RFC 1321.
"""

from __future__ import annotations

import struct

import pytest

from qathw.fw.constants import CONST_TABLE, CONST_TABLE_SIZE

QW = 8

# qatlib lac_sym_alg_chain.c const_tab: (cipher config word, offset in quadwords)
QATLIB_CIPHER_PAIRS = [
    (0x1, 9), (0x101, 10), (0x11, 11), (0x111, 12), (0x21, 13),
    (0x3, 14), (0x203, 15), (0x103, 16), (0x303, 17),
    (0x13, 18), (0x213, 19), (0x113, 20), (0x313, 21),
    (0x23, 22), (0x33, 23), (0x6, 24), (0x206, 25),
]  # fmt: skip

# qatlib LacSymQat_ConstantsInitLookupTables: (auth offset, config word, initial state)
QATLIB_PLAIN_HASHES = [
    (37, 0x02, "0123456789abcdeffedcba9876543210"),  # MD5 (RFC 1321, little-endian words)
    (41, 0x01, "67452301efcdab8998badcfe10325476c3d2e1f0"),  # SHA-1
    (48, 0x03, "c1059ed8367cd5073070dd17f70e5939ffc00b316858151164f98fa7befa4fa4"),  # SHA-224
    (54, 0x04, "6a09e667bb67ae853c6ef372a54ff53a510e527f9b05688c1f83d9ab5be0cd19"),  # SHA-256
    (
        60,
        0x05,  # SHA-384
        "cbbb9d5dc1059ed8629a292a367cd5079159015a3070dd17152fecd8f70e5939"
        "67332667ffc00b318eb44a8768581511db0c2e0d64f98fa747b5481dbefa4fa4",
    ),
    (
        70,
        0x06,  # SHA-512
        "6a09e667f3bcc908bb67ae8584caa73b3c6ef372fe94f82ba54ff53a5f1d36f1"
        "510e527fade682d19b05688c2b3e6c1f1f83d9abfb41bd6b5be0cd19137e2179",
    ),
]


def _u32(offset: int) -> int:
    return int(struct.unpack_from("<I", CONST_TABLE, offset)[0])


def test_the_table_is_the_1024_bytes_the_admin_message_declares() -> None:
    assert CONST_TABLE_SIZE == 1024
    assert len(CONST_TABLE) == CONST_TABLE_SIZE


@pytest.mark.parametrize(("config", "offset_qw"), QATLIB_CIPHER_PAIRS)
def test_each_cipher_config_qatlib_names_sits_at_its_offset(config: int, offset_qw: int) -> None:
    assert CONST_TABLE[offset_qw * QW : offset_qw * QW + 8] == struct.pack("<II", config, 0)


@pytest.mark.parametrize(("offset_qw", "config", "state"), QATLIB_PLAIN_HASHES)
def test_a_plain_hash_entry_is_its_setup_then_its_initial_state(
    offset_qw: int, config: int, state: str
) -> None:
    at = offset_qw * QW
    assert _u32(at) == config  # algorithm, mode 0, no compare length
    assert CONST_TABLE[at + 4 : at + 16] == bytes(12)  # reserved, counter 0, reserved
    assert CONST_TABLE[at + 16 : at + 16 + len(state) // 2].hex() == state


def test_the_hmac_sha1_entry_is_a_setup_with_a_one_block_counter() -> None:
    at = 46 * QW  # qatlib: SHA1, MODE1, not nested
    assert CONST_TABLE[at : at + 16] == bytes.fromhex("11000000 00000000 00000040 00000000")


def test_quadwords_before_the_first_cipher_entry_are_zero() -> None:
    assert CONST_TABLE[: 9 * QW] == bytes(9 * QW)
