"""What the device answers: response layout, services, DMA faults and handler failures."""

from __future__ import annotations

import hmac
import re
import struct
from pathlib import Path

import numpy as np
import pytest

from fakedev import dispatch
from fakedev.memory import DeviceMemory
from fakedev.wire import make_response
from qathw import emulated
from qathw.fw import common
from qathw.fw.common import ErrCode, ServiceType, Status
from qathw.transport import pfvf
from tests.transport.emu import make_rig, null_requests


def _requests(rows: list[tuple[int, int, int]]) -> np.ndarray:
    """Requests given as (service_type, cmd, opaque)."""
    out = np.zeros((len(rows), 128), np.uint8)
    for i, (svc, cmd, opaque) in enumerate(rows):
        out[i, 1], out[i, 2], out[i, 3] = cmd, svc, common.HDR_FLAG_VALID
        out[i, 24:32] = np.frombuffer(struct.pack("<Q", opaque), np.uint8)
    return out


def test_the_response_to_a_null_request_matches_the_published_one(tmp_path: Path) -> None:
    # docs/hardware.md#response and #known-answers (NULL request): valid bit, service_id
    # CPM_FW, type and cmd echoed, opaque at 8, status OK.
    rig = make_rig(tmp_path)
    try:
        pair = rig.endpoint.ring_pair(1, slots=16)
        pair.submit(common.null_request(0x1122334455667788))
        rig.step()
        raw = pair.poll().tobytes()
        assert raw[:8] == bytes([0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x01])
        assert raw[8:16] == bytes.fromhex("8877665544332211")
        assert raw[16:] == bytes(16)
    finally:
        rig.close()


def test_mixed_services_in_one_batch_keep_ring_order(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, handlers={int(ServiceType.NULL): dispatch.NULL_SERVICE})
    try:
        pair = rig.endpoint.ring_pair(1, slots=16)
        kinds = [0, 4, 0, 9, 9, 3, 0x7F, 0]
        pair.submit(_requests([(svc, 1, i) for i, svc in enumerate(kinds)]))
        rig.step()
        got = pair.poll()
        assert list(got["opaque_data"]) == list(range(len(kinds)))
        assert list(got["comn_hdr"]["response_type"]) == kinds
        status = got["comn_hdr"]["comn_status"]
        for svc, st in zip(kinds, status, strict=True):
            if svc in (ServiceType.NULL, ServiceType.LA):  # what bank 1 (sym) serves
                assert st == (0 if svc == 0 else Status.UNSUPPORTED_REQUEST)
            else:  # refused unexecuted: another service's bank
                assert st == dispatch.service_error_status(svc) | Status.UNSUPPORTED_REQUEST
    finally:
        rig.close()


class _ReadsSource:
    """A service that reads its flat source buffer (src at 32, length at 48)."""

    def __call__(self, request: bytes, memory: DeviceMemory) -> bytes:
        (src,) = struct.unpack_from("<Q", request, 32)
        (length,) = struct.unpack_from("<I", request, 48)
        data = memory.read(src, length)
        return make_response(request, tail=data[:16])


def test_an_address_outside_device_memory_is_an_endpoint_error(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, handlers={int(ServiceType.LA): _ReadsSource()})
    try:
        pair = rig.endpoint.ring_pair(1, slots=16)
        buf = rig.endpoint.dma.alloc(64)
        buf.view[:16] = b"inside the window"[:16]
        reqs = _requests([(4, 0, 1), (4, 0, 2), (4, 0, 3)])
        for row, (addr, length) in zip(
            reqs, [(buf.iova, 16), (0x1000, 16), (buf.iova + (4 << 20), 8)], strict=True
        ):
            row[32:40] = np.frombuffer(struct.pack("<Q", addr), np.uint8)
            row[48:52] = np.frombuffer(struct.pack("<I", length), np.uint8)
        pair.submit(reqs)
        rig.step()
        got = pair.poll()
        assert got[0]["comn_hdr"]["comn_status"] == 0
        assert got.tobytes()[16:32] == b"inside the window"[:16]
        for r in got[1:]:
            assert r["comn_hdr"]["comn_status"] == Status.CRYPTO
            assert r["comn_hdr"]["comn_error"]["cmp_err_code"] == ErrCode.ENDPOINT_ERROR
        assert not rig.device.errors  # a DMA fault is the request's problem, not the device's
    finally:
        rig.close()


def test_a_failing_handler_is_a_defect_of_the_fake_not_a_device_status(tmp_path: Path) -> None:
    def broken(request: bytes, memory: DeviceMemory) -> bytes:
        raise ZeroDivisionError("bug")

    def short(request: bytes, memory: DeviceMemory) -> bytes:
        return b"\x00" * 8

    crypto = pfvf.encode_ring_service_map([pfvf.RingService.CRYPTO] * 4)  # LA and PKE
    rig = make_rig(tmp_path, ring_service_map=crypto, handlers={4: broken, 3: short})
    try:
        pair = rig.endpoint.ring_pair(1, slots=16)
        pair.submit(_requests([(4, 0, 1), (0, 1, 2), (3, 0, 3)]))
        rig.step()
        got = pair.poll()
        assert list(got["opaque_data"]) == [1, 2, 3]
        err = got["comn_hdr"]["comn_error"]
        defect = emulated.DEFECT_ERROR_CODE
        statuses = [Status.CRYPTO, Status.UNSUPPORTED_REQUEST, Status.PKE]  # (no NULL here)
        assert list(got["comn_hdr"]["comn_status"]) == statuses
        assert list(err["cmp_err_code"]) == [defect, 0, defect]
        assert list(err["xlat_err_code"]) == [defect, 0, defect]
        # the services run as groups (PKE's before LA's), each reporting its defect
        short_text, broken_text = rig.device.defects
        assert re.fullmatch(
            r"tests\.fakedev_device\.test_requests:broken:\d+: ZeroDivisionError: bug",
            broken_text,
        )
        assert re.fullmatch(
            r"fakedev\.dispatch:_run_one:\d+: ValueError: .*returned 8 bytes.*", short_text
        )
        page = rig.path.read_bytes()[: emulated.CONTROL_PAGE_SIZE]
        assert emulated.read_defect(page) == emulated.Defect(count=2, text=broken_text)
        assert not rig.device.errors  # a defect is not a device error
    finally:
        rig.close()


def test_a_defect_names_the_fakes_own_line_not_the_librarys(tmp_path: Path) -> None:
    def misuses_a_library(request: bytes, memory: DeviceMemory) -> bytes:
        hmac.new(b"key", "not bytes", "sha256")  # type: ignore[call-overload]  # raises in hmac.py
        return make_response(request)

    rig = make_rig(tmp_path, handlers={4: misuses_a_library})
    try:
        pair = rig.endpoint.ring_pair(1, slots=16)
        pair.submit(_requests([(4, 0, 1)]))
        rig.step()
        assert len(pair.poll()) == 1
        (defect,) = rig.device.defects
        place = r"tests\.fakedev_device\.test_requests:misuses_a_library:\d+"
        assert re.fullmatch(rf"{place}: TypeError: .+", defect)
    finally:
        rig.close()


def test_a_defect_text_is_one_bounded_line_that_keeps_the_place() -> None:
    try:
        raise RuntimeError("line one\nline two\t" + "x" * 1000)
    except RuntimeError as exc:
        text = dispatch.defect_text(exc)
    place = r"tests\.fakedev_device\.test_requests:test_a_defect_text_is_one_\w+:\d+"
    assert re.match(rf"{place}: RuntimeError: line one line two xxx", text)
    assert len(text) == emulated.DEFECT_TEXT_LEN - 1 and text.isprintable()


def test_a_response_is_marked_valid_even_if_a_handler_forgets(tmp_path: Path) -> None:
    def forgetful(request: bytes, memory: DeviceMemory) -> bytes:
        return bytes([0x7F] * 32)  # would look like an empty slot

    rig = make_rig(tmp_path, handlers={4: forgetful})
    try:
        pair = rig.endpoint.ring_pair(1, slots=16)
        for n in (1, 3):  # the single-request path and the batch path
            pair.submit(_requests([(4, 0, i) for i in range(n)]))
            rig.step()
            got = pair.poll()
            assert got.shape == (n,)
            assert (got["comn_hdr"]["hdr_flags"] & 0x80).all()
    finally:
        rig.close()


def test_a_bank_runs_only_the_service_its_ring_to_service_map_gives_it(tmp_path: Path) -> None:
    """A COMP request on a sym bank is refused unexecuted, its buffers untouched; the same
    request on a dc bank is deflated (errata: a bank serves only its map's service)."""
    from qathw.service import cd
    from qathw.service import wire as ops

    sym_dc = pfvf.encode_ring_service_map([pfvf.RingService.SYM, pfvf.RingService.COMP] * 2)
    rig = make_rig(tmp_path, ring_service_map=sym_dc)
    try:
        pool = rig.endpoint.bank_memory(0)
        src, dst = pool.alloc(4096), pool.alloc(4096)
        src.view[:4096] = b"compressible " * 315 + b"x"
        setup = cd.compression_session(cd.CompDirection.COMPRESS)
        outcomes = []
        for bank in (0, 1):  # sym, then dc
            dst.view[:4096] = bytes(4096)
            req = ops.comp_request(
                setup, opaque=bank, src=ops.Flat(src.iova, 4096), dst=ops.Flat(dst.iova, 4096)
            )
            pair = rig.endpoint.ring_pair(bank, slots=16)
            pair.submit(np.frombuffer(bytes(req), np.uint8).reshape(1, 128))
            rig.step()
            outcomes.append((int(pair.poll()["comn_hdr"]["comn_status"][0]), any(dst.view)))
        refused, served = outcomes
        assert refused == (Status.CMP | Status.UNSUPPORTED_REQUEST, False)
        assert served[0] & Status.CMP == 0 and served[1]
    finally:
        rig.close()


def test_capability_word_carries_the_generations_slices() -> None:
    """Linux get_accel_cap: AES_V2, AESGCM_SPC, CHACHA_POLY and SHA3 on a 4xxx with sym."""
    from fakedev.device import capabilities_for
    from qathw.ids import Generation

    sym = (pfvf.RingService.SYM,)
    gen4 = pfvf.Capability(capabilities_for(sym, Generation.GEN4))
    extras = (
        pfvf.Capability.AES_V2
        | pfvf.Capability.AES_GCM_SPC
        | pfvf.Capability.CHACHA_POLY
        | pfvf.Capability.SHA3
    )
    assert gen4 & extras == extras
    assert pfvf.Capability(capabilities_for(sym, Generation.GEN2)) & extras == 0
    assert capabilities_for((pfvf.RingService.COMP,), Generation.GEN4) & extras == 0


def test_batch_responses_equal_single_responses() -> None:
    reqs = null_requests(range(5))
    reqs[2, 2] = 4
    batch = dispatch.responses_for(reqs, Status.CRYPTO, cmp_err=-17, hdr_flags=0x40)
    for row, resp in zip(reqs, batch, strict=True):
        single = make_response(row.tobytes(), Status.CRYPTO, cmp_err=-17, hdr_flags=0x40)
        assert resp.tobytes() == single


def test_default_registry_has_null_and_answers_everything() -> None:
    handlers = dispatch.default_handlers()
    assert handlers[int(ServiceType.NULL)] is dispatch.NULL_SERVICE
    mem = DeviceMemory(memoryview(bytearray(64)), 0)
    d = dispatch.Dispatcher(handlers, mem, lambda m: None)
    resp = d.execute_one(bytes(_requests([(0x55, 1, 9)])[0]))
    assert resp[6] == Status.UNSUPPORTED_REQUEST and resp[2] == 0x55


@pytest.mark.parametrize(
    ("svc", "status"),
    [(4, Status.CRYPTO), (9, Status.CMP | Status.XLAT), (3, Status.PKE), (0, Status.INVALID_PARAM)],
)
def test_endpoint_error_sets_the_service_status_bit(svc: int, status: int) -> None:
    resp = dispatch.endpoint_error_response(bytes(_requests([(svc, 0, 5)])[0]))
    assert resp[6] == status
    assert struct.unpack_from("b", resp, 5)[0] == ErrCode.ENDPOINT_ERROR


class _HalfDoneBatch:
    """A batch handler that transforms its first request in place and then fails."""

    def __init__(self) -> None:
        self.singles = 0

    def __call__(self, request: bytes, memory: DeviceMemory) -> bytes:
        self.singles += 1
        return make_response(request)

    def process_batch(self, requests: np.ndarray, memory: DeviceMemory) -> np.ndarray:
        (src,) = struct.unpack_from("<Q", requests[0].tobytes(), 32)
        memory.write(src, bytes(b ^ 0xFF for b in memory.read(src, 4)))
        raise RuntimeError("bug after the first request")


def test_a_failing_batch_handler_fails_the_whole_group_and_never_reruns_it(
    tmp_path: Path,
) -> None:
    handler = _HalfDoneBatch()
    rig = make_rig(tmp_path, handlers={int(ServiceType.LA): handler})
    try:
        pair = rig.endpoint.ring_pair(1, slots=16)
        buf = rig.endpoint.dma.alloc(64)
        buf.view[:4] = b"\x01\x02\x03\x04"
        reqs = _requests([(4, 0, i) for i in range(3)])
        reqs[:, 32:40] = np.frombuffer(struct.pack("<Q", buf.iova), np.uint8)
        pair.submit(reqs)
        rig.step()
        got = pair.poll()
        assert list(got["opaque_data"]) == [0, 1, 2]
        assert (got["comn_hdr"]["comn_status"] == Status.CRYPTO).all()
        assert (got["comn_hdr"]["comn_error"]["cmp_err_code"] == emulated.DEFECT_ERROR_CODE).all()
        assert handler.singles == 0  # not re-run one by one
        assert bytes(buf.view[:4]) == b"\xfe\xfd\xfc\xfb"  # transformed once, not twice
        (defect,) = rig.device.defects  # one failure, one defect
        assert defect.endswith("RuntimeError: bug after the first request")
    finally:
        rig.close()
