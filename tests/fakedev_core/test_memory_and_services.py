"""Device memory bounds and the common response format."""

import pytest

from fakedev.memory import DeviceMemory, DmaFault
from fakedev.services import null_service, unsupported_service
from fakedev.wire import make_response
from qathw.fw import common

BASE = 0x10_0000_0000


@pytest.fixture
def memory() -> DeviceMemory:
    return DeviceMemory(memoryview(bytearray(0x1000)), BASE)


def test_view_is_zero_copy(memory: DeviceMemory) -> None:
    memory.view(BASE + 8, 4)[:] = b"abcd"
    assert memory.read(BASE + 8, 4) == b"abcd"


@pytest.mark.parametrize(
    ("iova", "length"),
    [(BASE - 1, 1), (BASE + 0xFFF, 2), (0, 16), (BASE + 0x1000, 0x10), ((1 << 64) - 8, 8)],
)
def test_access_outside_the_window_faults(memory: DeviceMemory, iova: int, length: int) -> None:
    with pytest.raises(DmaFault, match="outside device memory"):
        memory.view(iova, length)


def test_misaligned_access_faults_when_alignment_is_required(memory: DeviceMemory) -> None:
    with pytest.raises(DmaFault, match="aligned"):
        memory.view(BASE + 4, 8, align=8)


def test_response_echoes_type_command_and_cookie() -> None:
    req = common.null_request(0x1122334455667788)
    resp = make_response(req, common.Status.CRYPTO, cmp_err=-11)
    hdr = common.icp_qat_fw_comn_resp.from_buffer_copy(resp)
    assert len(resp) == 32
    assert hdr.comn_hdr.service_id == common.RespServiceId.CPM_FW
    assert hdr.comn_hdr.response_type == common.ServiceType.NULL
    assert hdr.comn_hdr.cmd_id == common.NULL_REQ_SERV_ID
    assert hdr.comn_hdr.hdr_flags & common.HDR_FLAG_VALID
    assert hdr.comn_hdr.comn_status == common.Status.CRYPTO
    assert hdr.comn_hdr.comn_error.cmp_err_code == -11
    assert hdr.opaque_data == 0x1122334455667788


def test_a_response_never_looks_empty() -> None:
    req = bytes([0x7F] * 128)
    assert int.from_bytes(make_response(req)[:4], "little") != common.RING_EMPTY_SIG


def test_null_ok_and_unsupported_flagged(memory: DeviceMemory) -> None:
    req = common.null_request(1)
    assert null_service(req, memory)[6] == 0
    assert unsupported_service(req, memory)[6] == common.Status.UNSUPPORTED_REQUEST
