"""A fatal error fails only what had not completed.

Work whose responses the device wrote before it failed keeps its results, even when the
frontend hears of the failure before it has taken them: ``result(return_exceptions=True)``
gives each completed op its result and only the others the exception, and ``result()``
raises only for work of which an op failed — a caller who resubmitted every op of a
batch that "raised" would transform in-place buffers twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from qathw.errors import DeviceFatalError, RequestTimeoutError
from qathw.service import calls
from qathw.service.completion import Channel, Handle
from qathw.service.sessions import CipherSession
from tests.frontend_life.stepped import alloc, channel, stepped
from tests.transport.emu import Rig

KEY, IV = bytes(range(32)), bytes(range(16))
N = 41


def _cbc(data: bytes) -> bytes:
    enc = Cipher(algorithms.AES(KEY), modes.CBC(IV)).encryptor()
    return enc.update(data) + enc.finalize()


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = stepped(tmp_path, size=8 << 20)
    yield r
    r.close()


def _fatal_heard_before_the_responses_are_taken(rig: Rig, ch: Channel) -> None:
    rig.device.inject("fatal")
    rig.step()  # FATAL_ERROR goes to the VF
    rig.endpoint.check_events()  # heard now: the pair takes what was written, fails the rest


def test_a_batch_answered_before_a_fatal_error_keeps_every_result(rig: Rig) -> None:
    ch = channel(rig)
    s = CipherSession(ch, "aes-256-cbc", KEY)
    bufs = [alloc(ch, 64) for _ in range(N)]
    for i, b in enumerate(bufs):
        b.write(bytes([i]) * 64)
    done = calls.submit_batch(ch, [s.encrypt_op(b, IV) for b in bufs])  # in place
    rig.step()  # every response written, none taken yet
    late = calls.submit(ch, s.encrypt_op(b"L" * 64, IV))  # never taken by the device
    _fatal_heard_before_the_responses_are_taken(rig, ch)
    outcomes = done.result(return_exceptions=True)
    assert not any(isinstance(o, BaseException) for o in outcomes)
    assert done.result() == outcomes  # raises only if an op failed: none did
    assert [b.tobytes() for b in bufs] == [_cbc(bytes([i]) * 64) for i in range(N)]
    with pytest.raises(DeviceFatalError):
        late.result()


def test_a_batch_cut_by_a_fatal_error_fails_only_its_unanswered_ops(rig: Rig) -> None:
    ch = channel(rig, slots=32)  # 31 fit: the rest of the batch waits for room
    s = CipherSession(ch, "aes-256-cbc", KEY)
    ops = [s.encrypt_op(bytes([i]) * 64, IV) for i in range(N)]
    finished: list[Handle[list[bytes]]] = []
    with pytest.raises(RequestTimeoutError):  # no room for the rest: it stays queued
        calls.submit_batch(ch, ops, finished.append, timeout=0.01)
    rig.step()  # the first 31 answered
    _fatal_heard_before_the_responses_are_taken(rig, ch)
    with pytest.raises(DeviceFatalError):
        ch.poll()  # the batch completes (its callback runs), then the error is raised
    [handle] = finished
    outcomes = handle.result(return_exceptions=True)
    assert outcomes[:31] == [_cbc(bytes([i]) * 64) for i in range(31)]
    assert all(isinstance(o, DeviceFatalError) for o in outcomes[31:])
    with pytest.raises(DeviceFatalError):
        handle.result()
