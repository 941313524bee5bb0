"""``resubmit=False``, the discard policy: every request a crashed backend left fails, each
error saying whether the same op may simply be sent again.

Real processes: the backend (``fakedev serve``, forked) is killed with SIGKILL while it
writes back the first of the requests (an in-place one), the rest still queued behind it;
a new backend is started on the file.
"""

from __future__ import annotations

import time

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from qathw.errors import DeviceRestartError
from qathw.service.completion import Handle
from tests.frontend_life.backends import BDF, Forked, build_host, instances
from tests.service import rig

KEY, IV = bytes(range(32)), bytes(range(16))
SIZE = 1 << 20


def _cbc(data: bytes) -> bytes:
    enc = Cipher(algorithms.AES(KEY), modes.CBC(IV)).encryptor()
    return enc.update(data) + enc.finalize()


def test_with_replay_off_a_crash_fails_every_lost_request_with_a_retryable_error() -> None:
    host = build_host("4xxxvf", 64 << 20)
    path, services = host.files[BDF], host.ring_service_map(BDF)
    backend = Forked(path, services)
    try:
        with instances(host, resubmit=False) as insts:
            cy = insts.cy[0]
            s = cy.cipher("aes-256-cbc", KEY)
            first = cy.alloc(SIZE)
            first.write(b"\x01" * SIZE)
            others = [(cy.alloc(SIZE), cy.alloc(SIZE)) for _ in range(3)]
            for i, (src, _) in enumerate(others):
                src.write(bytes([i + 2]) * SIZE)
            sent: dict[str, Handle[object]] = {"in place": cy.submit(s.encrypt_op(first, IV))}
            for i, (src, dst) in enumerate(others):
                sent[f"out of place {i}"] = cy.submit(s.encrypt_op(src, IV, out=dst))
            sent["staged"] = cy.submit(s.encrypt_op(b"\x09" * 4096, IV))
            while first.view[0] == 1:  # the device writes the first one back: kill it now
                time.sleep(0)
            backend.kill()
            backend = Forked(path, services)
            errors = {name: h.exception() for name, h in sent.items()}
            assert errors["in place"] is None or not errors["in place"].retryable  # type: ignore[attr-defined]
            lost = {name: e for name, e in errors.items() if e is not None}
            assert set(lost) >= {"out of place 0", "out of place 1", "out of place 2", "staged"}
            for name, error in lost.items():
                assert isinstance(error, DeviceRestartError)
                assert "replay is off" in str(error)
                assert error.retryable is (name != "in place")
            assert cy.channel.replayed == 0
            # retryable means it: the same op again, on the new backend, is right
            src, dst = others[0]
            assert s.encrypt(src, IV, out=dst).tobytes() == _cbc(bytes([2]) * SIZE)
    finally:
        backend.kill()
        rig.remove(host)
