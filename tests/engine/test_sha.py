"""qathw.sha: the resumable SHA family, against hashlib, NIST and the published HMAC states."""

from __future__ import annotations

import hashlib
import hmac
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fakedev.engine import sharesume
from qathw import sha
from tests.vectors import Vector, load

ALGS = list(sha.ALGORITHMS.values())


@pytest.mark.parametrize("alg", ALGS, ids=lambda a: a.name)
@given(data=st.binary(max_size=300))
@settings(max_examples=15, deadline=None)
def test_digest_equals_hashlib(alg: sha.ShaAlgorithm, data: bytes) -> None:
    s = sha.ShaState(alg)
    s.update(data)
    assert s.digest() == hashlib.new(alg.name, data).digest()


@pytest.mark.parametrize("alg", ALGS, ids=lambda a: a.name)
@given(prefix_blocks=st.integers(0, 3), data=st.binary(max_size=200), seed=st.binary(max_size=1))
@settings(max_examples=10, deadline=None)
def test_exported_state_resumes_to_the_same_digest(
    alg: sha.ShaAlgorithm, prefix_blocks: int, data: bytes, seed: bytes
) -> None:
    prefix = (seed * alg.block_size * prefix_blocks)[: alg.block_size * prefix_blocks]
    prefix = prefix.ljust(alg.block_size * prefix_blocks, b"\x5a")
    s = sha.ShaState(alg)
    s.update(prefix)
    state, length = s.export()
    assert length == len(prefix)
    assert (
        sha.resume_digest(alg, state, length, data) == hashlib.new(alg.name, prefix + data).digest()
    )


FILES = [
    f"sha/{n}{kind}.rsp"
    for n in ("SHA1", "SHA224", "SHA256", "SHA384", "SHA512")
    for kind in ("ShortMsg", "LongMsg")
]


@pytest.mark.parametrize("vector", [v for f in FILES for v in load(f)], ids=repr)
def test_nist_shavs(vector: Vector) -> None:
    match = re.search(r"SHA(\d+)", vector.source)
    assert match is not None
    alg = sha.by_name("sha" + match.group(1))
    msg = vector.hex("Msg")[: int(vector["Len"]) // 8]
    s = sha.ShaState(alg)
    s.update(msg)
    assert s.digest().hex() == vector["MD"]


def test_hmac_states_match_the_known_answer_rfc4231_case_1() -> None:
    # docs/hardware.md#known-answers (HMAC-SHA256 mode 1)
    state1, state2 = sha.hmac_precompute(sha.SHA256, b"\x0b" * 20)
    assert state1.hex() == "2bb2180423b95bf9b4e8258cfab5e65411f2921e4feb78ee9890e5fe64b78036"
    assert state2.hex() == "27e7739fd956258356d666e25f810de8ec5e4f8a553d4fb83cff20ba10234b40"
    mac = sha.hmac_from_states(sha.SHA256, state1, state2, b"Hi There")
    assert mac.hex() == "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"


@pytest.mark.parametrize("alg", ALGS, ids=lambda a: a.name)
@pytest.mark.parametrize("key_len", [0, 20, 64, 129, 200])
def test_hmac_from_precomputed_states_equals_hmac(alg: sha.ShaAlgorithm, key_len: int) -> None:
    key = bytes(range(key_len % 256)) * (key_len // 256 + 1)
    key = key[:key_len]
    s1, s2 = sha.hmac_precompute(alg, key)
    assert len(s1) == len(s2) == alg.state_size
    data = b"the quick brown fox" * 9
    assert sha.hmac_from_states(alg, s1, s2, data) == hmac.new(key, data, alg.name).digest()


@pytest.mark.parametrize("alg", ALGS, ids=lambda a: a.name)
@pytest.mark.parametrize("size", [0, 1, 63, 64, 65, 1000, 70000])
def test_libcrypto_and_python_resume_agree_with_hashlib(alg: sha.ShaAlgorithm, size: int) -> None:
    if not sharesume.HAVE_LIBCRYPTO:
        pytest.skip("libcrypto not loadable here: only the pure-Python resume exists")
    prefix = b"\x36" * alg.block_size
    data = bytes(i * 7 % 251 for i in range(size))
    s = sha.ShaState(alg)
    s.update(prefix)
    state, n = s.export()
    expected = hashlib.new(alg.name, prefix + data).digest()
    assert sharesume.libcrypto_resume(alg, state, n, data) == expected
    if size < 2000:
        assert sharesume.python_resume(alg, state, n, data) == expected


def test_resume_length_must_be_whole_blocks() -> None:
    with pytest.raises(ValueError, match="multiple of 64"):
        sha.ShaState(sha.SHA256, sha.SHA256.initial_state, 10)


def test_export_refuses_a_partial_block() -> None:
    s = sha.ShaState(sha.SHA1)
    s.update(b"abc")
    with pytest.raises(ValueError, match="partial block"):
        s.export()


def test_wrong_state_size_is_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        sha.ShaState(sha.SHA256, b"\0" * 20)


def test_unknown_name_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown SHA"):
        sha.by_name("md5")
