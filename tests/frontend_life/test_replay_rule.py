"""The replay rule, one rule for a device restart and for a replaced backend.

A request lost when the function was replaced is replayed once if its input is intact
(out of place, or staged by qathw from the caller's bytes) and fails with
``DeviceRestartError`` otherwise: an in-place request on the caller's own device buffer
is never re-run, and its error is not ``retryable``. With ``resubmit=False`` every lost
request fails, each error saying whether the same op may simply be sent again.
(docs/api.md#the-replay-rule)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from qathw.errors import DeviceRestartError, RequestTimeoutError
from qathw.service import calls
from qathw.service.completion import Channel, Handle
from qathw.service.sessions import CipherSession
from tests.frontend_life.stepped import alloc, channel, replace_backend, restart, stepped
from tests.transport.emu import Rig

KEY, IV = bytes(range(32)), bytes(range(16))


def _ctr(data: bytes) -> bytes:
    enc = Cipher(algorithms.AES(KEY), modes.CTR(IV)).encryptor()
    return enc.update(data) + enc.finalize()


def _new_backend(rig: Rig, ch: Channel) -> None:
    replace_backend(rig)
    ch.poll()  # the empty poll's look finds it, reopens, replays


def _device_restart(rig: Rig, ch: Channel) -> None:
    restart(rig, ch)


LOSSES: dict[str, Callable[[Rig, Channel], None]] = {
    "device restart": _device_restart,
    "new backend": _new_backend,
}


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = stepped(tmp_path, size=8 << 20)
    yield r
    r.close()


class Mix:
    """One request of each kind in flight, and how many times each callback ran."""

    def __init__(self, ch: Channel) -> None:
        self.session = CipherSession(ch, "aes-256-ctr", KEY)
        s = self.session
        self.in_place = alloc(ch, 64)
        self.in_place.write(b"I" * 64)
        self.src, self.dst = alloc(ch, 64), alloc(ch, 64)
        self.src.write(b"O" * 64)
        self.calls: dict[str, int] = {}
        self.handles: dict[str, Handle[object]] = {
            "in place": self._send(ch, "in place", s.encrypt_op(self.in_place, IV)),
            "out of place": self._send(
                ch, "out of place", s.encrypt_op(self.src, IV, out=self.dst)
            ),
            "staged": self._send(ch, "staged", s.encrypt_op(b"S" * 64, IV)),
        }

    def _send(self, ch: Channel, name: str, op: object) -> Handle[object]:
        def called(_: Handle[object]) -> None:
            self.calls[name] = self.calls.get(name, 0) + 1

        return calls.submit(ch, op, called)  # type: ignore[arg-type]

    def error(self, name: str) -> DeviceRestartError:
        err = self.handles[name].exception(0)
        assert isinstance(err, DeviceRestartError), err
        return err


def _settle(rig: Rig, ch: Channel) -> None:
    for _ in range(4):
        rig.step()
        ch.poll()
    assert ch.in_flight == 0


@pytest.mark.parametrize("loss", LOSSES)
def test_intact_requests_are_replayed_and_in_place_ones_fail(rig: Rig, loss: str) -> None:
    ch = channel(rig)
    mix = Mix(ch)
    LOSSES[loss](rig, ch)
    _settle(rig, ch)
    err = mix.error("in place")
    assert not err.retryable and "half-transformed" in str(err)
    assert mix.in_place.tobytes() == b"I" * 64  # not run again behind the caller's back
    assert mix.handles["out of place"].result(0).tobytes() == _ctr(b"O" * 64)  # type: ignore[attr-defined]
    assert mix.handles["staged"].result(0) == _ctr(b"S" * 64)
    assert ch.replayed == 2
    assert mix.calls == {"in place": 1, "out of place": 1, "staged": 1}


@pytest.mark.parametrize("loss", LOSSES)
def test_with_replay_off_every_lost_request_fails_saying_if_it_may_be_sent_again(
    rig: Rig, loss: str
) -> None:
    ch = channel(rig, resubmit=False)
    mix = Mix(ch)
    LOSSES[loss](rig, ch)
    _settle(rig, ch)
    retryable = {name: mix.error(name).retryable for name in mix.handles}
    assert retryable == {"in place": False, "out of place": True, "staged": True}
    assert all("replay is off" in str(mix.error(name)) for name in mix.handles)
    assert ch.replayed == 0
    # and what is retryable is: the same op again gives the right answer
    again = calls.submit(ch, mix.session.encrypt_op(mix.src, IV, out=mix.dst))
    _settle(rig, ch)
    assert again.result(0).tobytes() == _ctr(b"O" * 64)


def test_a_replayed_request_lost_again_fails_instead_of_looping(rig: Rig) -> None:
    ch = channel(rig)
    mix = Mix(ch)
    _new_backend(rig, ch)  # lost once: the intact ones are sent again ...
    assert ch.replayed == 2 and ch.pair.in_flight == 2
    _new_backend(rig, ch)  # ... and lost again before any answer
    _settle(rig, ch)
    for name in ("out of place", "staged"):
        err = mix.error(name)
        assert err.retryable and "lost again after its one replay" in str(err)
    assert ch.replayed == 2
    assert mix.calls == {"in place": 1, "out of place": 1, "staged": 1}


def test_work_queued_for_room_is_not_lost_and_goes_after_the_replays(rig: Rig) -> None:
    ch = channel(rig, slots=4)  # three requests in flight at most
    s = CipherSession(ch, "aes-256-ctr", KEY)
    done: list[str] = []

    def sent_by(i: int) -> Callable[[Handle[bytes]], None]:
        return lambda _: done.append(f"s{i}")

    sent = [calls.submit(ch, s.encrypt_op(bytes([i]) * 32, IV), sent_by(i)) for i in range(3)]
    ops = [s.encrypt_op(bytes([i]) * 32, IV) for i in range(3, 5)]
    with pytest.raises(RequestTimeoutError):  # no room came: the batch stays queued
        calls.submit_batch(ch, ops, lambda _: done.append("queued"), timeout=0.01)
    assert ch.in_flight == 5
    _new_backend(rig, ch)
    _settle(rig, ch)
    assert [h.result(0) for h in sent] == [_ctr(bytes([i]) * 32) for i in range(3)]
    assert done == ["s0", "s1", "s2", "queued"]
    assert ch.replayed == 3
