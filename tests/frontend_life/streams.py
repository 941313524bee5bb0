"""A stream of requests kept in flight while something happens to the device."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from qathw.service.completion import Handle
from qathw.service.instance import CyInstance

KEY, IV = bytes(range(32)), bytes(range(16))
IN_FLIGHT = 16
GIVE_UP = 30.0  # seconds: a stream never runs forever when what it waits for never comes


def ctr(data: bytes) -> bytes:
    enc = Cipher(algorithms.AES(KEY), modes.CTR(IV)).encryptor()
    return enc.update(data) + enc.finalize()


def stream(
    cy: CyInstance, until: Callable[[], bool] = lambda: True, *, at_least: int = 0, size: int = 4096
) -> int:
    """Keep :data:`IN_FLIGHT` AES-256-CTR requests out until ``until()`` holds and at least
    ``at_least`` were sent, then let them finish; every result is checked against
    ``cryptography``.

    Returns:
        How many requests completed.
    """
    session = cy.cipher("aes-256-ctr", KEY)
    out: deque[tuple[bytes, Handle[bytes]]] = deque()
    done = n = 0
    give_up = time.monotonic() + GIVE_UP

    def more() -> bool:
        if n >= at_least and time.monotonic() > give_up:
            raise AssertionError(f"what the stream waited for did not happen in {GIVE_UP} s")
        return n < at_least or not until()

    while more() or out:
        if more() and len(out) < IN_FLIGHT:
            data = n.to_bytes(4, "little") * (size // 4)
            out.append((data, cy.submit(session.encrypt_op(data, IV))))
            n += 1
            continue
        data, handle = out.popleft()
        assert handle.result() == ctr(data)
        done += 1
    session.close()
    return done
