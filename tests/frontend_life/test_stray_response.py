"""A response that answers no request in flight never costs the others of its poll."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from qathw.errors import TransportError
from qathw.fw.common import RESP_OPAQUE_OFFSET
from qathw.service import calls
from qathw.service.sessions import CipherSession
from qathw.transport.ring import RESPONSE_DTYPE
from tests.frontend_life.stepped import channel, stepped
from tests.transport.emu import Rig

KEY, IV = bytes(range(32)), bytes(range(16))
UNKNOWN_JOB = 0xABCDE  # a work id the channel never gave out


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = stepped(tmp_path, size=8 << 20)
    yield r
    r.close()


def _ctr(data: bytes) -> bytes:
    enc = Cipher(algorithms.AES(KEY), modes.CTR(IV)).encryptor()
    return enc.update(data) + enc.finalize()


def test_a_stray_response_is_counted_and_raised_after_the_others_are_delivered(
    rig: Rig,
) -> None:
    ch = channel(rig)
    session = CipherSession(ch, "aes-256-ctr", KEY)
    plain = [bytes([65 + i]) * 64 for i in range(3)]
    handles = [calls.submit(ch, session.encrypt_op(p, IV)) for p in plain]
    rig.step()  # the device answers all three
    # The middle response now names a request nobody sent (a device that misanswered).
    rx = ch.pair._rx  # the response ring's slots, one row each
    assert rx is not None and rx.shape[1] == RESPONSE_DTYPE.itemsize
    rx[1, RESP_OPAQUE_OFFSET : RESP_OPAQUE_OFFSET + 8].view(np.uint64)[0] = UNKNOWN_JOB << 20
    del rx  # no view of the ring may outlive the test (the mapping closes after it)

    with pytest.raises(TransportError, match="not in flight"):
        ch.poll()

    assert handles[0].result(0) == _ctr(plain[0])
    assert handles[2].result(0) == _ctr(plain[2])
    assert not handles[1].done()  # its own answer never came: still in flight
    assert ch.strays == 1
    assert ch.last_stray is not None and f"{UNKNOWN_JOB << 20:#x}" in ch.last_stray
