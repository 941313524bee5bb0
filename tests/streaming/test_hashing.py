"""Streaming hashes and HMACs: hashlib's shape and results, on partial packets."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qathw.errors import QatError
from qathw.service.accelerator import Accelerator
from qathw.service.hashing import StreamingHash

NAMES = ["sha1", "sha224", "sha256", "sha384", "sha512"]
SIZES = [0, 1, 127, 128, 129, 300_000]
FIXTURE = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("name", NAMES)
def test_streamed_digest_equals_hashlib(qat: Accelerator, name: str, size: int) -> None:
    data = os.urandom(size)
    h = qat.hash(name)
    h.update(data[: size // 3])
    h.update(data[size // 3 :])
    assert h.digest() == hashlib.new(name, data).digest()


@settings(max_examples=20, deadline=None, suppress_health_check=FIXTURE)
@given(cuts=st.lists(st.integers(0, 400_000), max_size=8))
def test_any_chunking_gives_the_one_shot_digest(qat: Accelerator, cuts: list[int]) -> None:
    data = bytes(range(256)) * 1600
    h = qat.hash("sha256")
    bounds = [0, *sorted(cuts), len(data)]
    for a, b in itertools.pairwise(bounds):
        h.update(data[a:b])
    assert qat.cy is not None
    assert h.digest() == qat.cy.hash("sha256").digest(data) == hashlib.sha256(data).digest()


@pytest.mark.parametrize("name", ["sha1", "sha256", "sha512"])
def test_streamed_hmac_equals_the_hmac_module(qat: Accelerator, name: str) -> None:
    key, data = os.urandom(40), os.urandom(1_000_000)
    h = qat.hmac(key, data[:1000], name)
    h.update(data[1000:])
    assert h.digest() == hmac.new(key, data, name).digest()


def test_the_object_reports_hashlib_attributes(qat: Accelerator) -> None:
    h, ref = qat.hash("sha384"), hashlib.sha384()
    assert (h.name, h.digest_size, h.block_size) == (ref.name, ref.digest_size, ref.block_size)


def test_hexdigest_is_the_digest_in_hex(qat: Accelerator) -> None:
    h = qat.hash("sha256", b"abc")
    assert h.hexdigest() == hashlib.sha256(b"abc").hexdigest()


def test_digest_can_be_taken_midway_and_hashing_goes_on(qat: Accelerator) -> None:
    data = os.urandom(700_000)
    h = qat.hash("sha256", data)
    assert h.digest() == hashlib.sha256(data).digest()
    h.update(b"more")
    assert h.digest() == hashlib.sha256(data + b"more").digest()


def test_a_copy_goes_on_independently(qat: Accelerator) -> None:
    data = os.urandom(500_000)
    h = qat.hash("sha512", data)
    twin = h.copy()
    twin.update(b"twin")
    assert h.digest() == hashlib.sha512(data).digest()
    assert twin.digest() == hashlib.sha512(data + b"twin").digest()


def test_a_closed_hash_refuses_input(qat: Accelerator) -> None:
    h = qat.hash("sha256")
    assert isinstance(h, StreamingHash)
    h.close()
    with pytest.raises(QatError, match="closed"):
        h.update(b"x")


def test_text_is_refused(qat: Accelerator) -> None:
    with pytest.raises(TypeError, match="str"):
        qat.hash("sha256").update("text")  # type: ignore[arg-type]


def test_64_mib_through_a_16_mib_endpoint(qat: Accelerator) -> None:
    h, ref = qat.hash("sha256"), hashlib.sha256()
    assert isinstance(h, StreamingHash)
    block = os.urandom(1 << 20)
    for _ in range(64):
        h.update(block)
        ref.update(block)
    assert h.digest() == ref.digest()
    assert h.chunk * 16 <= 16 << 20
