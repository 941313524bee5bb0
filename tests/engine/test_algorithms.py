"""The algorithm catalogue: names, and parameters rejected before anything is sent."""

from __future__ import annotations

import pytest

from qathw.errors import UnsupportedAlgorithmError
from qathw.fw.hw import CipherAlgo, CipherMode
from qathw.service import algorithms as algs


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("aes-128-cbc", algs.CipherAlgorithm),
        ("AES-256-CTR", algs.CipherAlgorithm),
        ("aes-256-xts", algs.CipherAlgorithm),
        ("des-cbc", algs.CipherAlgorithm),
        ("des-ede3-cbc", algs.CipherAlgorithm),
        ("sha384", algs.HashAlgorithm),
        ("hmac-sha1", algs.HmacAlgorithm),
        ("aes-192-gcm", algs.AeadAlgorithm),
        ("deflate", algs.CompressionAlgorithm),
    ],
)
def test_lookup_finds_supported_names(name: str, kind: type) -> None:
    assert isinstance(algs.lookup(name), kind)


def test_unknown_algorithm_names_what_is_supported() -> None:
    with pytest.raises(UnsupportedAlgorithmError) as exc:
        algs.lookup("rot13")
    assert "aes-128-cbc" in str(exc.value) and "hmac-sha256" in str(exc.value)


@pytest.mark.parametrize(
    ("name", "hint"),
    [("aes-192-xts", "128- and 256-bit"), ("chacha20-poly1305", "aes-256-gcm"), ("md5", "sha256")],
)
def test_known_unsupported_algorithms_get_a_specific_hint(name: str, hint: str) -> None:
    with pytest.raises(UnsupportedAlgorithmError, match=hint):
        algs.lookup(name)


def test_a_hash_is_not_a_cipher() -> None:
    with pytest.raises(UnsupportedAlgorithmError, match="not a cipher"):
        algs.cipher("sha256")


def test_name_must_be_a_string() -> None:
    with pytest.raises(TypeError):
        algs.lookup(b"aes-128-cbc")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "key_len"),
    [
        ("aes-128-cbc", 32),
        ("aes-256-ctr", 16),
        ("des-cbc", 16),
        ("3des-cbc", 12),
        ("aes-128-xts", 16),
    ],
)
def test_wrong_key_size_is_a_value_error_naming_the_size(name: str, key_len: int) -> None:
    with pytest.raises(ValueError, match=f"got {key_len} bytes"):
        algs.cipher(name).check_key(b"k" * key_len)


def test_xts_key_halves_must_differ() -> None:
    with pytest.raises(ValueError, match="halves must differ"):
        algs.cipher("aes-128-xts").check_key(b"k" * 32)


def test_key_must_be_bytes_like() -> None:
    with pytest.raises(TypeError, match="bytes-like"):
        algs.cipher("aes-128-cbc").check_key("0123456789abcdef")
    assert algs.cipher("aes-128-cbc").check_key(bytearray(16)) == bytes(16)


def test_cbc_needs_whole_blocks_and_says_so() -> None:
    with pytest.raises(ValueError, match="multiple"):
        algs.cipher("aes-128-cbc").check_length(17)
    algs.cipher("aes-128-ctr").check_length(17)


def test_gcm_parameter_rules() -> None:
    g = algs.aead("aes-128-gcm")
    with pytest.raises(ValueError, match="between 1 and 128 bytes"):
        g.check_iv(b"n" * 129)
    with pytest.raises(ValueError, match="between 1 and 128 bytes"):
        g.check_iv(b"")
    with pytest.raises(ValueError, match="tags"):
        g.check_tag_size(10)
    with pytest.raises(ValueError, match="at most 240"):
        g.check_aad_size(241)


def test_hardware_algorithm_ids_follow_key_size() -> None:
    assert algs.cipher("aes-256-xts").hw_algo(64) == CipherAlgo.AES256
    assert algs.cipher("3des-cbc").hw_algo(16) == CipherAlgo.TDES
    assert algs.cipher("aes-192-ctr").mode == CipherMode.CTR


def test_digest_truncation_bounds() -> None:
    h = algs.auth("hmac-sha256")
    assert h.check_digest_size(None) == 32
    assert h.check_digest_size(16) == 16
    with pytest.raises(ValueError, match=r"4\.\.32"):
        h.check_digest_size(33)
