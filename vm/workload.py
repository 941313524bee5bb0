"""The verified mixed workload: a long-running frontend whose every result is checked.

One process holds a section (``user_start`` + ``open_instances``: one Cy and one Dc
instance) and keeps a mix of requests in flight, round robin:

* ``cbc``: AES-128-CBC out of place, between two of its own device buffers;
* ``gcm``: AES-256-GCM on bytes (staged by qathw);
* ``sha256``: a SHA-256 digest of bytes (staged);
* ``deflate``: deflate of compressible text (staged);
* ``inplace``: one large AES-128-CBC request (4 MiB by default) **in place on a device
  buffer it owns**: the request the restart rule never replays.

Every result is checked against ``cryptography``, ``hashlib`` and ``zlib`` computed here;
every request gets an id in a :class:`~vm.ledger.Ledger` with its outcome (ok, wrong,
failed in place, error) and its count of completions (a second one is a duplicate).
Snapshots are written when the host asks through the control directory
(:mod:`vm.ledger`); ``stop`` (or SIGTERM) ends submitting, the workload drains what is in
flight and writes ``final.json``.

``python -m vm.workload --control DIR`` runs it where ``user_start`` finds the section
(a fake host's environment, or a guest given ``--config-dir``); ``--vfio`` first binds a
guest's emulated endpoint to ``vfio-pci`` and turns the section broker off (this one
process opens the function). The host side is :mod:`vm.scenario`.
"""

from __future__ import annotations

import argparse
import faulthandler
import hashlib
import itertools
import os
import random
import signal
import subprocess
import sys
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from qathw import admin, open_instances, user_start
from qathw.discovery import discover
from qathw.errors import (
    DeviceFatalError,
    DeviceRestartError,
    QatError,
    RingFullError,
    TransportError,
)
from qathw.paths import ENV_CONFIG_DIR, ENV_RUNTIME_DIR, HostRoot
from qathw.service.buffers import DeviceBuffer
from qathw.service.completion import Handle
from qathw.service.instance import CyInstance, DcInstance, Instance
from qathw.service.operations import Op
from qathw.service.results import DcResult
from qathw.vfio_lent import ENV as ENV_BROKER
from vm.ledger import (
    FINAL,
    READY,
    STOP,
    Ledger,
    Outcome,
    Snapshot,
    answered,
    wanted,
    write_snapshot,
)

SECTION = "SSL"  # the section the workload holds (one Cy and one Dc instance)
INPLACE = "inplace"  # the kind of the large in-place request
KINDS = ("cbc", "gcm", "sha256", "deflate", INPLACE)
CHECK_EVERY = 0.01  # seconds between looks at the control directory and the endpoints
BACKOFF = 0.05  # seconds to wait after the frontend refused a request for good reason
_NAP_MAX = 1e-3


@dataclass(frozen=True)
class Mix:
    """How much the workload keeps in flight, and how large its requests are.

    Attributes:
        depth: requests in flight at most (the in-place one included).
        message: bytes of each ``cbc``, ``gcm`` and ``sha256`` request (whole AES blocks).
        text: bytes of each ``deflate`` request.
        inplace: bytes of the in-place request (whole AES blocks).
    """

    depth: int = 16
    message: int = 4096
    text: int = 16384
    inplace: int = 4 << 20

    def __post_init__(self) -> None:
        for name in ("depth", "message", "text", "inplace"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, not {getattr(self, name)}")
        if self.message % 16 or self.inplace % 16:
            raise ValueError("message and inplace must be whole AES blocks (multiples of 16)")


# A check returns None when the result is right, else what is wrong with it.
Check = Callable[[object], str | None]


@dataclass
class _Request:
    kind: str
    op: Op[object]
    instance: Instance
    check: Check
    release: Callable[[], None]


def differs(got: bytes, want: bytes, what: str) -> str | None:
    """``None`` when ``got`` is ``want``, else where they part (for the books' samples)."""
    if got == want:
        return None
    at = next((i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b), None)
    where = f"first differing byte {at}" if at is not None else "one is a prefix of the other"
    return f"{what}: got {len(got)} bytes, {where} (expected {len(want)} bytes)"


def check_cbc(got: bytes, key: bytes, iv: bytes, plain: bytes, what: str = "AES-CBC") -> str | None:
    """``got`` against ``cryptography``'s AES-CBC encryption of ``plain``."""
    enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return differs(got, enc.update(plain) + enc.finalize(), what)


def check_gcm(got: bytes, key: bytes, nonce: bytes, data: bytes, aad: bytes) -> str | None:
    """``got`` (ciphertext and tag) against ``cryptography``'s AES-GCM sealing of ``data``."""
    return differs(got, AESGCM(key).encrypt(nonce, data, aad), "AES-GCM")


def check_sha256(got: bytes, data: bytes) -> str | None:
    """``got`` against ``hashlib``'s SHA-256 of ``data``."""
    return differs(got, hashlib.sha256(data).digest(), "SHA-256")


def check_deflate(output: bytes, crc32: int, text: bytes) -> str | None:
    """Raw deflate ``output`` and its CRC32 against ``zlib``: it must inflate to ``text``."""
    try:
        back = zlib.decompress(output, -15)
    except zlib.error as exc:
        return f"deflate: the output does not inflate ({exc})"
    if crc32 != zlib.crc32(text):
        return f"deflate: CRC32 {crc32:#010x}, zlib says {zlib.crc32(text):#010x}"
    return differs(back, text, "deflate round trip")


def _corpus(size: int, rng: random.Random) -> bytes:
    """Compressible text: words from a small vocabulary."""
    words = [
        bytes(rng.choices(b"abcdefghijklmnopqrstuvwxyz", k=rng.randint(2, 9))) for _ in range(300)
    ]
    out = bytearray()
    while len(out) < size:
        out += rng.choice(words) + b" "
    return bytes(out[:size])


class Workload:
    """The mix on one Cy and one Dc instance, every outcome in ``ledger``.

    Args:
        cy: the crypto instance (``cbc``, ``gcm``, ``sha256``, ``inplace``).
        dc: the compression instance (``deflate``); ``None`` leaves deflate out.
        ledger: where outcomes go.
        mix: sizes and depth.
        seed: for the inputs (keys, IVs and nonces come from ``os.urandom``).

    Raises:
        DmaPoolExhaustedError: the instance's memory cannot hold the buffers.
    """

    def __init__(
        self,
        cy: CyInstance,
        dc: DcInstance | None,
        ledger: Ledger,
        mix: Mix | None = None,
        *,
        seed: int = 11,
    ) -> None:
        self.cy = cy
        self.dc = dc
        self.ledger = ledger
        self.mix = mix = mix or Mix()
        rng = random.Random(seed)
        self._random = rng.randbytes(1 << 20)
        self._text = _corpus(1 << 20, rng)
        self._rng = rng
        self._cbc_key = os.urandom(16)
        self._cbc = cy.cipher("aes-128-cbc", self._cbc_key)
        self._gcm_key = os.urandom(32)
        self._gcm = cy.aead("aes-256-gcm", self._gcm_key)
        self._sha = cy.hash("sha256")
        self._deflate = dc.compression(level=1) if dc is not None else None
        self._pairs: list[tuple[DeviceBuffer, DeviceBuffer]] = []
        self._big: DeviceBuffer | None = None
        self._big_plain = rng.randbytes(mix.inplace)
        self._big_busy = False
        kinds = [k for k in KINDS if k != "deflate" or dc is not None]
        self._kinds = itertools.cycle(kinds)
        self._next: _Request | None = None
        self._quiet_until = 0.0
        try:
            for _ in range(mix.depth):
                self._pairs.append((cy.alloc(mix.message), cy.alloc(mix.message)))
            self._big = cy.alloc(mix.inplace)
        except BaseException:
            self.close()
            raise

    # --- the requests ---------------------------------------------------------------------

    def _piece(self, size: int, source: bytes) -> bytes:
        start = self._rng.randrange(0, len(source) - size + 1) if len(source) > size else 0
        return source[start : start + size]

    def _make(self, kind: str) -> _Request | None:
        """The next request of ``kind``; ``None`` when its buffers are all in flight."""
        m = self.mix
        if kind == "cbc":
            if not self._pairs:
                return None
            src, dst = pair = self._pairs.pop()
            data, iv, key = self._piece(m.message, self._random), os.urandom(16), self._cbc_key
            src.write(data)

            def cbc(value: object) -> str | None:
                return check_cbc(dst.tobytes(), key, iv, data, "AES-CBC out of place")

            op: Op[object] = self._cbc.encrypt_op(src, iv, out=dst)
            return _Request(kind, op, self.cy, cbc, lambda: self._pairs.append(pair))
        if kind == "gcm":
            data, nonce, key = self._piece(m.message, self._random), os.urandom(12), self._gcm_key
            aad = nonce[:4]

            def gcm(value: object) -> str | None:
                return check_gcm(_bytes(value), key, nonce, data, aad)

            op = self._gcm.encrypt_op(nonce, data, aad)
            return _Request(kind, op, self.cy, gcm, _nothing)
        if kind == "sha256":
            data = self._piece(m.message, self._random)

            def sha(value: object) -> str | None:
                return check_sha256(_bytes(value), data)

            return _Request(kind, self._sha.digest_op(data), self.cy, sha, _nothing)
        if kind == "deflate":
            assert self._deflate is not None and self.dc is not None
            text = self._piece(m.text, self._text)

            def deflate(value: object) -> str | None:
                if not isinstance(value, DcResult):
                    return f"deflate: a {type(value).__name__}, not a DcResult"
                return check_deflate(_bytes(value.output), value.crc32, text)

            return _Request(kind, self._deflate.compress_op(text), self.dc, deflate, _nothing)
        # inplace: the large request on the buffer this workload owns
        big = self._big
        if big is None or self._big_busy:
            return None
        big.write(self._big_plain)
        iv = os.urandom(16)
        plain, key = self._big_plain, self._cbc_key

        def inplace(value: object) -> str | None:
            return check_cbc(big.tobytes(), key, iv, plain, "AES-CBC in place")

        def free() -> None:
            self._big_busy = False

        self._big_busy = True
        return _Request(kind, self._cbc.encrypt_op(big, iv), self.cy, inplace, free)

    # --- submitting and completing ------------------------------------------------------------

    def pump(self) -> int:
        """Send requests until ``depth`` are in flight or the frontend refuses; how many."""
        if time.monotonic() < self._quiet_until:
            return 0
        sent = 0
        tries = 0
        while self.ledger.in_flight < self.mix.depth and tries < len(KINDS):
            req = self._next
            if req is None:
                req = self._make(next(self._kinds))
                if req is None:
                    tries += 1
                    continue
            if not self._send(req):
                self._next = req  # the same request again next time
                return sent
            self._next = None
            sent += 1
            tries = 0
        return sent

    def _send(self, req: _Request) -> bool:
        rid = self.ledger.open(req.kind)
        callback = self._completion(rid, req)
        try:
            req.instance.submit(req.op, callback, block=False)
        except (RingFullError, DeviceRestartError):
            # Nothing was sent: the ring is full, or the device is restarting (or the
            # frontend is suspended). Send it again later.
            self.ledger.withdraw(rid)
            return False
        except QatError as exc:
            self.ledger.close(rid, Outcome.ERROR, f"refused: {type(exc).__name__}: {exc}")
            req.release()
            if isinstance(exc, DeviceFatalError):
                self._quiet_until = time.monotonic() + BACKOFF
            return True
        return True

    def _completion(self, rid: int, req: _Request) -> Callable[[Handle[object]], None]:
        def done(handle: Handle[object]) -> None:
            try:
                value = handle.result()
            except DeviceRestartError as exc:
                outcome = Outcome.FAILED_IN_PLACE if req.kind == INPLACE else Outcome.ERROR
                self.ledger.close(rid, outcome, f"{type(exc).__name__}: {exc}")
            except Exception as exc:  # every other failure is recorded, never raised
                self.ledger.close(rid, Outcome.ERROR, f"{type(exc).__name__}: {exc}")
            else:
                wrong = req.check(value)
                self.ledger.close(rid, Outcome.WRONG if wrong else Outcome.OK, wrong or "")
            finally:
                req.release()

        return done

    def poll(self) -> int:
        """Take responses on both instances (callbacks record them); how many completed."""
        done = 0
        for inst in (self.cy, self.dc):
            if inst is None:
                continue
            try:
                done += inst.poll()
            except DeviceFatalError:
                self._quiet_until = time.monotonic() + BACKOFF  # the failed requests are recorded
            except TransportError as exc:
                # A response that matches no request in flight: the device answered twice.
                self.ledger.stray(f"{inst.name}: {exc}")
            except QatError as exc:
                self.ledger.stray(f"{inst.name}: poll failed: {type(exc).__name__}: {exc}")
        return done

    def check_events(self) -> None:
        """Look at the endpoints now, as a qatlib application calls
        ``icp_sal_poll_device_events`` now and then: a busy frontend seldom has an empty
        poll, which is what drives qathw's own looks, so a host's suspend request or a new
        backend would otherwise wait for one."""
        for ep in {
            id(i.endpoint): i.endpoint for i in (self.cy, self.dc) if i is not None
        }.values():
            try:
                ep.check_events()
            except QatError as exc:
                self.ledger.note(f"{ep.name}: check_events: {type(exc).__name__}: {exc}")

    def replayed(self) -> int:
        """Requests the frontend sent again after a restart (its channels' own count)."""
        return sum(i.channel.replayed for i in (self.cy, self.dc) if i is not None)

    def drain(self, timeout: float) -> None:
        """Poll until nothing is in flight, or ``timeout`` seconds passed."""
        deadline = time.monotonic() + timeout
        nap = 2e-5
        while self.ledger.in_flight and time.monotonic() < deadline:
            if self.poll():
                nap = 2e-5
                continue
            time.sleep(nap)
            nap = min(nap * 2, _NAP_MAX)

    def snapshot(self, label: str, *, final: bool = False) -> Snapshot:
        return self.ledger.snapshot(label, replayed=self.replayed(), final=final)

    def close(self) -> None:
        """Free the device buffers (the instances stay open)."""
        for src, dst in self._pairs:
            src.free()
            dst.free()
        self._pairs.clear()
        if self._big is not None:
            self._big.free()
            self._big = None


def _bytes(value: object) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, DeviceBuffer):
        return value.tobytes()
    raise TypeError(f"a result of type {type(value).__name__}")


def _nothing() -> None:
    return None


# --- the process ------------------------------------------------------------------------------


class StopFlag:
    """Set by SIGTERM / SIGINT (installed by :meth:`install`) or by hand."""

    def __init__(self) -> None:
        self.set = False

    def install(self) -> None:
        def handler(signum: int, frame: FrameType | None) -> None:
            self.set = True

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)


def run(
    workload: Workload,
    control: Path,
    *,
    stop: StopFlag | None = None,
    seconds: float | None = None,
    drain: float = 30.0,
) -> Snapshot:
    """Run ``workload`` until told to stop (or for ``seconds``), answering snapshot requests.

    Returns:
        The final snapshot (also written as ``final.json``).
    """
    stop = stop or StopFlag()
    start = time.monotonic()
    next_look = 0.0
    ready = False
    nap = 2e-5
    while True:
        now = time.monotonic()
        if now >= next_look:
            next_look = now + CHECK_EVERY
            workload.check_events()
            for label in wanted(control):
                write_snapshot(control, workload.snapshot(label))
                answered(control, label)
            if not ready and workload.ledger.completed:
                write_snapshot(control, workload.snapshot(READY))
                ready = True
            over = seconds is not None and now - start >= seconds
            if stop.set or over or (control / STOP).exists():
                break
        if workload.pump() + workload.poll():
            nap = 2e-5
        else:
            time.sleep(nap)
            nap = min(nap * 2, _NAP_MAX)
    workload.drain(drain)
    final = workload.snapshot(FINAL, final=True)
    write_snapshot(control, final)
    return final


def bind_endpoint() -> str:
    """Bind this guest's emulated endpoint to ``vfio-pci`` (once); its PCI address.

    The section broker is turned off for this process: it alone opens the function.

    Raises:
        QatError: no emulated endpoint (or more than one), or binding failed.
    """
    subprocess.run(["modprobe", "vfio-pci"], check=False, capture_output=True)
    host = HostRoot()
    emulated = discover(host).emulated
    if len(emulated) != 1:
        raise QatError(
            f"the guest has {len(emulated)} emulated endpoints; the workload wants one",
            hint="attach exactly one endpoint file (python -m fakedev create) to the guest",
        )
    bdf = str(emulated[0].bdf)
    admin.bind(host, bdf, "vfio-pci")
    os.environ[ENV_BROKER] = "off"
    return bdf


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vm.workload", description=__doc__)
    parser.add_argument(
        "--control",
        required=True,
        type=Path,
        metavar="DIR",
        help="the control directory (snapshot requests and answers)",
    )
    parser.add_argument("--section", default=SECTION)
    parser.add_argument("--depth", type=int, default=Mix.depth)
    parser.add_argument(
        "--inplace-mib",
        type=float,
        default=Mix.inplace / (1 << 20),
        help="size of the in-place request, MiB",
    )
    parser.add_argument("--seconds", type=float, help="stop by itself after this long")
    parser.add_argument(
        "--drain",
        type=float,
        default=30.0,
        metavar="S",
        help="seconds to wait for requests in flight when stopping",
    )
    parser.add_argument(
        "--config-dir", type=Path, metavar="DIR", help=f"configuration files (${ENV_CONFIG_DIR})"
    )
    parser.add_argument(
        "--runtime-dir", type=Path, metavar="DIR", help=f"section locks (${ENV_RUNTIME_DIR})"
    )
    parser.add_argument(
        "--no-resubmit",
        action="store_true",
        help="open the instances with resubmit=False: every request lost to a restart fails",
    )
    parser.add_argument(
        "--vfio",
        action="store_true",
        help="first bind the guest's one emulated endpoint to vfio-pci (no section broker)",
    )
    args = parser.parse_args(argv)
    faulthandler.enable()  # a fatal signal (SIGBUS on a mapping, say) leaves a trace
    inplace = int(args.inplace_mib * (1 << 20)) // 16 * 16
    mix = Mix(depth=args.depth, inplace=inplace)
    control: Path = args.control
    control.mkdir(parents=True, exist_ok=True)
    stop = StopFlag()
    stop.install()
    try:
        for var, value in ((ENV_CONFIG_DIR, args.config_dir), (ENV_RUNTIME_DIR, args.runtime_dir)):
            if value is not None:
                os.environ[var] = str(value)
        if args.vfio:
            bind_endpoint()
        resubmit = not args.no_resubmit
        with user_start(args.section) as held, open_instances(held, resubmit=resubmit) as insts:
            if not insts.cy:
                raise QatError(f"section {held.name} has no Cy instance", hint="add one")
            workload = Workload(insts.cy[0], insts.dc[0] if insts.dc else None, Ledger(), mix)
            try:
                final = run(workload, control, stop=stop, seconds=args.seconds, drain=args.drain)
            finally:
                workload.close()
    except QatError as exc:
        print(f"vm.workload: {exc}", file=sys.stderr)
        return 1
    print(final.to_json())
    return 0


if __name__ == "__main__":
    sys.exit(main())
