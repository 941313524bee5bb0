"""A device restart with requests in flight: intact ones are replayed, in-place ones fail.

The rule (``qathw.service.completion``): a request lost to a restart is replayed after
RESTARTED when its input is known intact — out of place, or staged by qathw from the
caller's bytes (copied in again) — and fails with ``DeviceRestartError`` when it worked in
place on the caller's own device buffer. Both tests use a real restart of the device
model: ``Device.inject("restart")`` on a paused device thread, and SIGUSR1 to a device
process (``fakedev.runner.serve``) while a request holds it busy.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

import qathw
from fakedev.device import Device
from fakedev.engine import LaHandler
from fakedev.irq import InterruptServer
from fakedev.memory import DeviceMemory
from fakedev.runner import serve
from qathw.errors import DeviceFatalError, DeviceRestartError, RequestTimeoutError
from qathw.fw.common import ServiceType
from qathw.service.instance import CyInstance
from tests.service import rig

KEY, IV = bytes(range(32)), bytes(16)
BDF = "0000:00:10.0"


def _ctr(data: bytes) -> bytes:
    enc = Cipher(algorithms.AES(KEY), modes.CTR(IV)).encryptor()
    return enc.update(data) + enc.finalize()


def _crypto_host() -> rig.Host:
    return rig.build((rig.DEFAULT_ENDPOINTS[0],), {"4xxxvf_dev0.conf": rig.CRYPTO_FILE})


class PausableDevice:
    """The device model in a thread that the test can pause between steps."""

    def __init__(self, path: Path) -> None:
        self.device = Device(path)
        self.device.connect()
        self.irq = InterruptServer(self.device).start()
        self.go = threading.Event()
        self.go.set()
        self.idle = threading.Event()
        self._stop = False
        self._thread = threading.Thread(target=self._main, daemon=True)
        self._thread.start()

    def _main(self) -> None:
        while not self._stop:
            if self.go.is_set():
                self.idle.clear()
                self.device.step()
                time.sleep(0)
            else:
                self.idle.set()
                time.sleep(1e-4)

    def pause(self) -> None:
        self.go.clear()
        assert self.idle.wait(5)

    def resume(self) -> None:
        self.go.set()

    def close(self) -> None:
        self._stop = True
        self._thread.join()
        self.irq.stop()
        self.device.disconnect()
        self.device.close()


@pytest.fixture
def paused_host() -> Iterator[tuple[rig.Host, PausableDevice]]:
    h = _crypto_host()
    dev = PausableDevice(h.files[BDF])
    try:
        with rig.environment(h):
            yield h, dev
    finally:
        dev.close()
        rig.remove(h)


def _in_flight_mix(cy: CyInstance) -> dict[str, object]:
    """Submit one request of each kind; return their handles and expected results."""
    s = cy.cipher("aes-256-ctr", KEY)
    in_place = cy.alloc(64)
    in_place.write(b"I" * 64)
    src, dst = cy.alloc(64), cy.alloc(64)
    src.write(b"O" * 64)
    return {
        "in-place": cy.submit(s.encrypt_op(in_place, IV)),
        "out-of-place": cy.submit(s.encrypt_op(src, IV, out=dst)),
        "staged": cy.submit(s.encrypt_op(b"S" * 64, IV)),
        "batch": cy.submit_batch([s.encrypt_op(bytes([i]) * 40, IV) for i in range(5)]),
        "dst": dst,
        "src": src,
    }


def test_a_restart_replays_intact_requests_and_fails_in_place_ones(
    paused_host: tuple[rig.Host, PausableDevice],
) -> None:
    _, dev = paused_host
    with qathw.user_start("SSL") as held, qathw.open_instances(held) as insts:
        cy = insts.cy[0]
        dev.pause()  # requests stay in the ring, unconsumed
        mix = _in_flight_mix(cy)
        dev.device.inject("restart")
        dev.resume()
        with pytest.raises(DeviceRestartError) as info:
            mix["in-place"].result()  # type: ignore[attr-defined]
        assert "may be half-transformed" in str(info.value)
        assert mix["out-of-place"].result().tobytes() == _ctr(b"O" * 64)  # type: ignore[attr-defined]
        assert mix["src"].tobytes() == b"O" * 64  # type: ignore[attr-defined]
        assert mix["staged"].result() == _ctr(b"S" * 64)  # type: ignore[attr-defined]
        assert mix["batch"].result() == [_ctr(bytes([i]) * 40) for i in range(5)]  # type: ignore[attr-defined]
        assert cy.channel.replayed == 7
        # and the instance works on after the restart
        assert cy.cipher("aes-256-ctr", KEY).encrypt(b"after", IV) == _ctr(b"after")


def test_with_replay_off_every_lost_request_fails(
    paused_host: tuple[rig.Host, PausableDevice],
) -> None:
    _, dev = paused_host
    with qathw.user_start("SSL") as held, qathw.open_instances(held, resubmit=False) as insts:
        cy = insts.cy[0]
        dev.pause()
        mix = _in_flight_mix(cy)
        dev.device.inject("restart")
        dev.resume()
        for name in ("in-place", "out-of-place", "staged"):
            with pytest.raises(DeviceRestartError, match="replay is off"):
                mix[name].result()  # type: ignore[attr-defined]
        out = mix["batch"].result(return_exceptions=True)  # type: ignore[attr-defined]
        assert all(isinstance(e, DeviceRestartError) for e in out)
        assert cy.channel.replayed == 0


def test_a_restart_replays_gcm_batches_on_bytes(
    paused_host: tuple[rig.Host, PausableDevice],
) -> None:
    """Their data was staged from the caller's bytes: copied in again, and sent again."""
    _, dev = paused_host
    nonces = [os.urandom(12) for _ in range(4)]
    msgs = [bytes([i]) * 50 for i in range(4)]
    want = [AESGCM(KEY).encrypt(n, m, b"aad") for n, m in zip(nonces, msgs, strict=True)]
    with qathw.user_start("SSL") as held, qathw.open_instances(held) as insts:
        cy = insts.cy[0]
        s = cy.aead("aes-256-gcm", KEY)
        dev.pause()
        ops = cy.submit_batch(
            [s.encrypt_op(n, m, b"aad") for n, m in zip(nonces, msgs, strict=True)]
        )
        many = s.submit_many(nonces, msgs, b"aad")
        dev.device.inject("restart")
        dev.resume()
        assert ops.result() == want
        assert many.result() == want
        assert cy.channel.replayed == 8


class GatedLa:
    """The LA engine, held at the first request while a gate file exists."""

    def __init__(self, gate: Path) -> None:
        self.gate = gate
        self.engine = LaHandler()

    def __call__(self, request: bytes, memory: DeviceMemory) -> bytes:
        if self.gate.exists():
            (self.gate.parent / "taken").touch()  # tell the test: a request is held
        while self.gate.exists():
            time.sleep(0.001)
        return self.engine(request, memory)


def _serve_gated(path: Path, gate: Path) -> None:
    serve(path, handlers={int(ServiceType.LA): GatedLa(gate)})


def test_sigusr1_to_a_device_process_restarts_it_under_load() -> None:
    h = _crypto_host()
    gate = h.root / "gate"
    gate.touch()
    ctx = multiprocessing.get_context("fork")
    proc = ctx.Process(target=_serve_gated, args=(h.files[BDF], gate), daemon=True)
    proc.start()
    try:
        deadline = time.monotonic() + 10
        # InitWait: serving, waiting for a frontend's handshake (docs/split-driver.md)
        while _state(h.files[BDF]) != "INIT_WAIT" and time.monotonic() < deadline:
            time.sleep(0.01)
        with (
            rig.environment(h),
            qathw.user_start("SSL") as held,
            qathw.open_instances(held) as insts,
        ):
            cy = insts.cy[0]
            s = cy.cipher("aes-256-ctr", KEY)
            first = cy.submit(s.encrypt_op(b"F" * 64, IV))
            while not (h.root / "taken").exists():  # the device holds it at the gate
                time.sleep(0.001)
            assert proc.pid is not None
            os.kill(proc.pid, signal.SIGUSR1)  # a restart, taken when the current step ends
            mix = _in_flight_mix(cy)  # these wait in the ring
            gate.unlink()
            assert first.result() == _ctr(b"F" * 64)  # answered before the restart
            with pytest.raises(DeviceRestartError):
                mix["in-place"].result()  # type: ignore[attr-defined]
            assert mix["out-of-place"].result().tobytes() == _ctr(b"O" * 64)  # type: ignore[attr-defined]
            assert mix["staged"].result() == _ctr(b"S" * 64)  # type: ignore[attr-defined]
            assert mix["batch"].result() == [_ctr(bytes([i]) * 40) for i in range(5)]  # type: ignore[attr-defined]
            assert cy.channel.replayed == 7
    finally:
        gate.unlink(missing_ok=True)  # never leave the device held
        proc.terminate()
        proc.join(10)
        if proc.is_alive():
            proc.kill()
            proc.join()
        rig.remove(h)


def _state(path: Path) -> str:
    from fakedev.__main__ import status

    return str(status(str(path))["backend_state"])


def test_a_fatal_error_fails_everything_in_flight_and_refuses_more(
    paused_host: tuple[rig.Host, PausableDevice],
) -> None:
    _, dev = paused_host
    with qathw.user_start("SSL") as held, qathw.open_instances(held) as insts:
        cy = insts.cy[0]
        s = cy.cipher("aes-256-ctr", KEY)
        dev.pause()
        done: list[object] = []
        handles = [cy.submit(s.encrypt_op(b"x" * 32, IV), callback=done.append) for _ in range(3)]
        dev.device.inject("fatal")
        dev.resume()
        with pytest.raises(DeviceFatalError, match="fatal error"):
            handles[0].result()
        assert len(done) == 3  # every callback ran: nothing is left hanging
        for h in handles:
            assert isinstance(h.exception(), DeviceFatalError)
        with pytest.raises(DeviceFatalError):
            s.encrypt(b"y" * 32, IV)


def test_a_wait_that_times_out_leaves_the_request_to_complete(
    paused_host: tuple[rig.Host, PausableDevice],
) -> None:
    _, dev = paused_host
    with qathw.user_start("SSL") as held, qathw.open_instances(held) as insts:
        cy = insts.cy[0]
        s = cy.cipher("aes-256-ctr", KEY)
        pool = cy.channel.pool
        s.encrypt(b"warm", IV)
        free = pool.free_bytes  # type: ignore[attr-defined]
        dev.pause()
        handle = cy.submit(s.encrypt_op(b"late" * 8, IV))
        with pytest.raises(RequestTimeoutError, match=r"no response within 0\.05 s"):
            handle.result(timeout=0.05)
        # a blocking submit that cannot get room in time: the batch stays queued
        capacity = cy.channel.pair.capacity
        with pytest.raises(RequestTimeoutError):
            ops = [s.encrypt_op(b"q" * 16, IV) for _ in range(capacity + 5)]
            cy.submit_batch(ops, timeout=0.05)
        assert cy.in_flight == capacity + 6
        dev.resume()
        assert handle.result() == _ctr(b"late" * 8)
        while cy.in_flight:
            cy.poll()
        assert pool.free_bytes == free  # type: ignore[attr-defined]
