"""A gen2 endpoint (an emulated C62x VF): DES and 3DES run there, on the legacy slice.

The seed's sample cipher is DES-CBC; no gen4 stack offers it, gen2 does (qatlib, DPDK's
gen2 legacy capabilities). Everything else a gen2 endpoint runs goes to its legacy slice:
CTR and the two-pass GCM cipher block included, and GCM never in single pass.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

import qathw
from fakedev.engine.compat import TripleDES
from qathw.errors import UnsupportedAlgorithmError
from qathw.service.instance import CyInstance
from tests.service import rig
from tests.vectors import Vector, load


@pytest.fixture(scope="module")
def cy2() -> Iterator[CyInstance]:
    """``[SSL]``'s Cy instance on an emulated c6xxvf, for the whole module."""
    h = rig.build(rig.GEN2_ENDPOINTS, rig.GEN2_FILES)
    try:
        with rig.environment(h), rig.running(h):
            with qathw.user_start("SSL") as held, qathw.open_instances(held) as insts:
                yield insts.cy[0]
    finally:
        rig.remove(h)


TDES = [v for f in ("TCBCMMT1.rsp", "TCBCMMT2.rsp", "TCBCMMT3.rsp") for v in load(f"tdes/{f}")]


@pytest.mark.parametrize("v", TDES, ids=repr)
def test_des_and_3des_cbc_run_on_gen2(cy2: CyInstance, v: Vector) -> None:
    k1, k2, k3 = v.hex("KEY1"), v.hex("KEY2"), v.hex("KEY3")
    if k1 == k2 == k3:
        name, key = "des-cbc", k1  # keying option 3: single DES, the seed's sample cipher
    elif k1 == k3:
        name, key = "3des-cbc", k1 + k2
    else:
        name, key = "3des-cbc", k1 + k2 + k3
    with cy2.cipher(name, key) as s:
        if v["direction"] == "ENCRYPT":
            assert s.encrypt(v.hex("PLAINTEXT"), v.hex("IV")) == v.hex("CIPHERTEXT")
        else:
            assert s.decrypt(v.hex("CIPHERTEXT"), v.hex("IV")) == v.hex("PLAINTEXT")


def test_the_seeds_des_sample_runs_in_batches_on_gen2(cy2: CyInstance) -> None:
    key, msgs = os.urandom(8), [os.urandom(64) for _ in range(32)]
    ivs = [os.urandom(8) for _ in msgs]
    with cy2.cipher("des-cbc", key) as s:
        got = cy2.perform_batch([s.encrypt_op(m, iv) for m, iv in zip(msgs, ivs, strict=True)])
    for m, iv, ct in zip(msgs, ivs, got, strict=True):
        assert ct == Cipher(TripleDES(key * 3), modes.CBC(iv)).encryptor().update(m)


def test_gen2_runs_ctr_on_its_legacy_slice(cy2: CyInstance) -> None:
    key, iv, data = os.urandom(32), os.urandom(16), os.urandom(100)
    with cy2.cipher("aes-256-ctr", key) as s:
        assert s.encrypt(data, iv) == Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor().update(
            data
        )


@pytest.mark.parametrize("nonce_size", [12, 8, 60])
def test_gen2_runs_gcm_two_pass(cy2: CyInstance, nonce_size: int) -> None:
    key, nonce, aad = os.urandom(16), os.urandom(nonce_size), os.urandom(13)
    with cy2.aead("aes-128-gcm", key) as s:
        sealed = s.encrypt(nonce, b"gen2 record", aad)
        assert sealed == AESGCM(key).encrypt(nonce, b"gen2 record", aad)
        assert s.decrypt(nonce, sealed, aad) == b"gen2 record"


def test_single_pass_gcm_is_refused_on_gen2_naming_the_generation(cy2: CyInstance) -> None:
    with pytest.raises(UnsupportedAlgorithmError, match=r"this c6xxvf endpoint \(gen2\)"):
        cy2.aead("aes-128-gcm", bytes(16), single_pass=True)
