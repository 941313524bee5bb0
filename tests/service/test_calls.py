"""The call forms: perform, submit + poll with callbacks, handles, batches, asyncio, ring full."""

from __future__ import annotations

import asyncio
import os

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from qathw.errors import RingFullError
from qathw.service.completion import Handle
from qathw.service.instance import CyInstance, DcInstance

KEY, IV = bytes(range(16)), bytes(16)


def _cbc(data: bytes, iv: bytes = IV) -> bytes:
    enc = Cipher(algorithms.AES(KEY), modes.CBC(iv)).encryptor()
    return enc.update(data) + enc.finalize()


def test_submit_returns_a_pending_handle_that_poll_completes_with_its_callback(
    cy: CyInstance,
) -> None:
    s = cy.cipher("aes-128-cbc", KEY)
    seen: list[Handle[object]] = []
    handle = cy.submit(s.encrypt_op(b"x" * 64, IV), callback=seen.append)
    assert not handle.done()  # nothing completes without a poll
    while not handle.done():
        cy.poll()
    assert seen == [handle]
    assert handle.result() == _cbc(b"x" * 64)
    assert handle.exception() is None


def test_result_polls_by_itself(cy: CyInstance) -> None:
    s = cy.cipher("aes-128-cbc", KEY)
    handles = [cy.submit(s.encrypt_op(bytes([i]) * 32, IV)) for i in range(20)]
    assert [h.result() for h in handles] == [_cbc(bytes([i]) * 32) for i in range(20)]
    assert cy.in_flight == 0


def test_a_batch_of_mixed_ops_returns_results_in_order(cy: CyInstance) -> None:
    cbc = cy.cipher("aes-128-cbc", KEY)
    gcm = cy.aead("aes-128-gcm", KEY)
    sha = cy.hash("sha256")
    nonce = os.urandom(12)
    ops = []
    for i in range(30):
        ops += [
            cbc.encrypt_op(bytes([i]) * 48, IV),
            gcm.encrypt_op(nonce, bytes([i]) * 7, b"hdr"),
            sha.digest_op(bytes([i]) * 3),
        ]
    results = cy.perform_batch(ops)
    import hashlib

    want = []
    for i in range(30):
        want += [
            _cbc(bytes([i]) * 48),
            AESGCM(KEY).encrypt(nonce, bytes([i]) * 7, b"hdr"),
            hashlib.sha256(bytes([i]) * 3).digest(),
        ]
    assert results == want


def test_a_failed_op_in_a_batch_raises_or_takes_its_place(cy: CyInstance) -> None:
    gcm = cy.aead("aes-128-gcm", KEY)
    nonce = os.urandom(12)
    good = AESGCM(KEY).encrypt(nonce, b"payload", None)
    bad = good[:-1] + bytes([good[-1] ^ 1])
    ops = [gcm.decrypt_op(nonce, good), gcm.decrypt_op(nonce, bad), gcm.decrypt_op(nonce, good)]
    with pytest.raises(InvalidTag):
        cy.perform_batch(ops)
    out = cy.perform_batch(ops, return_exceptions=True)
    assert out[0] == out[2] == b"payload"
    assert isinstance(out[1], InvalidTag)


def test_a_batch_larger_than_the_ring_goes_through_by_back_pressure(cy: CyInstance) -> None:
    s = cy.cipher("aes-128-cbc", KEY)
    capacity = cy.channel.pair.capacity
    msgs = [os.urandom(16) for _ in range(3 * capacity + 7)]
    got = cy.perform_batch([s.encrypt_op(m, IV) for m in msgs])
    assert got == [_cbc(m) for m in msgs]


def test_a_full_ring_raises_ring_full_without_block_and_sends_nothing(cy: CyInstance) -> None:
    s = cy.cipher("aes-128-cbc", KEY)
    pair = cy.channel.pair
    handles = [cy.submit(s.encrypt_op(b"a" * 16, IV), block=False) for _ in range(pair.capacity)]
    sent = pair.submitted
    with pytest.raises(RingFullError) as info:
        cy.submit(s.encrypt_op(b"a" * 16, IV), block=False)
    assert "poll responses first" in str(info.value)
    assert pair.submitted == sent  # nothing went out
    # block=True is back-pressure: it polls (completing the others) until there is room
    last = cy.submit(s.encrypt_op(b"b" * 16, IV), block=True)
    assert last.result() == _cbc(b"b" * 16)
    assert all(h.result() == _cbc(b"a" * 16) for h in handles)


def test_a_callback_that_raises_surfaces_from_poll_after_the_others_ran(cy: CyInstance) -> None:
    s = cy.cipher("aes-128-cbc", KEY)
    ran: list[int] = []

    def boom(handle: Handle[object]) -> None:
        raise RuntimeError("callback bug")

    h1 = cy.submit(s.encrypt_op(b"a" * 16, IV), callback=boom)
    h2 = cy.submit(s.encrypt_op(b"b" * 16, IV), callback=lambda h: ran.append(1))
    with pytest.raises(RuntimeError, match="callback bug"):
        while not (h1.done() and h2.done()):
            cy.poll()
    while not h2.done():
        cy.poll()
    assert ran == [1]
    assert h1.result() == _cbc(b"a" * 16)


def test_perform_async_keeps_the_event_loop_running(cy: CyInstance) -> None:
    s = cy.cipher("aes-128-cbc", KEY)
    msgs = [os.urandom(32) for _ in range(50)]
    ticks = 0

    async def ticker(stop: asyncio.Event) -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0)

    async def main() -> list[object]:
        stop = asyncio.Event()
        t = asyncio.create_task(ticker(stop))
        out = await asyncio.gather(*(cy.perform_async(s.encrypt_op(m, IV)) for m in msgs))
        batch = await cy.perform_batch_async([s.encrypt_op(m, IV) for m in msgs])
        stop.set()
        await t
        return [*out, *batch]

    got = asyncio.run(main())
    assert got == [_cbc(m) for m in msgs] * 2
    assert ticks > 0  # the loop ran other tasks while the requests were out


def test_async_errors_are_raised_where_awaited(cy: CyInstance) -> None:
    gcm = cy.aead("aes-128-gcm", KEY)
    with pytest.raises(InvalidTag):
        asyncio.run(gcm_decrypt_bad(cy, gcm))


async def gcm_decrypt_bad(cy: CyInstance, gcm: object) -> object:
    return await cy.perform_async(gcm.decrypt_op(bytes(12), bytes(32)))  # type: ignore[attr-defined]


def test_an_op_goes_only_to_its_own_instance(cy: CyInstance, dc: DcInstance) -> None:
    s = cy.cipher("aes-128-cbc", KEY)
    with pytest.raises(ValueError, match="another instance"):
        dc.perform(s.encrypt_op(b"a" * 16, IV))
    with pytest.raises(TypeError, match="expected an op"):
        cy.perform(b"not an op")  # type: ignore[arg-type]


def test_an_op_can_be_submitted_again(cy: CyInstance) -> None:
    s = cy.cipher("aes-128-cbc", KEY)
    op = s.encrypt_op(b"z" * 16, IV)
    assert cy.perform(op) == cy.perform(op) == _cbc(b"z" * 16)
