"""The emulated endpoint's control page (layout version 2) and window checks."""

import ctypes

import pytest

from qathw import emulated
from qathw.emulated import qathw_emu_control
from qathw.errors import DeviceError
from qathw.fw.common import ErrCode

# (field, offset, size) of layout version 2; pinned so a change must bump the version.
CONTROL_FIELDS = [
    ("magic", 0, 8),
    ("layout_version", 8, 4),
    ("control_size", 12, 4),
    ("total_size", 16, 8),
    ("vendor_id", 24, 2),
    ("device_id", 26, 2),
    ("subsystem_vendor_id", 28, 2),
    ("subsystem_id", 30, 2),
    ("revision", 32, 1),
    ("generation", 33, 1),
    ("is_vf", 34, 1),
    ("num_banks", 36, 2),
    ("rings_per_bank", 38, 2),
    ("csr_offset", 40, 8),
    ("csr_size", 48, 8),
    ("pmisc_offset", 56, 8),
    ("pmisc_size", 64, 8),
    ("devmem_offset", 72, 8),
    ("devmem_size", 80, 8),
    ("devmem_iova", 88, 8),
    ("frontend_state", 96, 4),
    ("backend_state", 100, 4),
    ("backend_epoch", 104, 8),
    ("backend_heartbeat", 112, 8),
    ("backend_pid", 120, 4),
    ("pci_command", 124, 2),
    ("device_error_count", 128, 4),
    ("device_error", 136, 120),
    # added in reserved space, version kept: zeros in an older file read "no defect"
    ("defect_count", 256, 4),
    ("defect", 264, 248),
    # version 2: the split driver's life
    ("features", 512, 32),
    ("pf_state", 544, 8),
    ("device_resets", 552, 4),
    ("suspend_request", 556, 4),
    ("frontend_epoch", 560, 8),
    ("bank_links", 1024, 1024),
    ("bank_counters", 2048, 1536),
]

FEATURE_FIELDS = [
    ("flags", 0, 4),
    ("ring_service_map", 4, 4),
    ("capabilities", 8, 4),
    ("min_ring_bytes", 12, 4),
    ("max_ring_bytes", 16, 4),
]
LINK_FIELDS = [("epoch", 0, 8), ("suspend_ack", 8, 4)]
PF_STATE_FIELDS = [("vf_compat", 0, 1), ("vf_init", 1, 1)]


@pytest.mark.parametrize(
    ("struct", "size", "fields"),
    [
        (emulated.qathw_emu_features, 32, FEATURE_FIELDS),
        (emulated.qathw_emu_bank_link, 16, LINK_FIELDS),
        (emulated.qathw_emu_pf_state, 8, PF_STATE_FIELDS),
    ],
)
def test_version_2_structures_are_pinned(
    struct: type[ctypes.Structure], size: int, fields: list[tuple[str, int, int]]
) -> None:
    assert ctypes.sizeof(struct) == size
    for name, offset, width in fields:
        field = getattr(struct, name)
        assert (name, field.offset, field.size) == (name, offset, width)


def test_control_page_is_one_page() -> None:
    assert ctypes.sizeof(qathw_emu_control) == 4096


@pytest.mark.parametrize(("name", "offset", "size"), CONTROL_FIELDS)
def test_control_field_offsets(name: str, offset: int, size: int) -> None:
    field = getattr(qathw_emu_control, name)
    assert (field.offset, field.size) == (offset, size)


def _page(windows: emulated.Windows, device_id: int = 0x4941) -> bytearray:
    buf = bytearray(windows.total_size)
    page = qathw_emu_control.from_buffer(buf)
    page.magic = emulated.EMU_MAGIC
    page.layout_version = emulated.EMU_LAYOUT_VERSION
    page.control_size = emulated.CONTROL_PAGE_SIZE
    page.total_size = windows.total_size
    page.vendor_id, page.device_id = 0x8086, device_id
    page.num_banks, page.rings_per_bank = 4, 2
    for f in (
        "csr_offset",
        "csr_size",
        "pmisc_offset",
        "pmisc_size",
        "devmem_offset",
        "devmem_size",
        "devmem_iova",
    ):
        setattr(page, f, getattr(windows, f))
    page.backend_state = emulated.XenbusState.CONNECTED
    del page
    return buf


def test_plan_then_read_round_trips() -> None:
    win = emulated.plan_windows(csr_size=4 * 0x2000, pmisc_size=0x2000, total_size=1 << 20)
    info = emulated.read_control(_page(win))
    assert info.windows == win
    assert info.kind.class_name == "4xxxvf"
    assert info.backend_state is emulated.XenbusState.CONNECTED


def test_csr_window_is_aligned_to_its_size() -> None:
    win = emulated.plan_windows(csr_size=0x180000, pmisc_size=0x2000, total_size=1 << 24)
    assert win.csr_offset % 0x200000 == 0
    assert win.devmem_offset > win.pmisc_offset > win.csr_offset


def test_plan_rejects_non_power_of_two() -> None:
    with pytest.raises(ValueError, match="power of two"):
        emulated.plan_windows(csr_size=0x8000, pmisc_size=0x2000, total_size=3 << 20)


def test_plan_rejects_too_small_and_says_what_fits() -> None:
    with pytest.raises(ValueError, match="at least"):
        emulated.plan_windows(csr_size=0x8000, pmisc_size=0x2000, total_size=0x8000)


def test_read_rejects_missing_magic_with_hint() -> None:
    with pytest.raises(DeviceError) as info:
        emulated.read_control(bytes(4096))
    assert info.value.hint and "fakedev" in info.value.hint


def test_read_rejects_other_version() -> None:
    win = emulated.plan_windows(csr_size=0x8000, pmisc_size=0x2000, total_size=1 << 20)
    buf = _page(win)
    buf[8] = 99
    with pytest.raises(DeviceError, match="version 99"):
        emulated.read_control(buf)


def test_read_rejects_windows_beyond_the_mapping() -> None:
    win = emulated.plan_windows(csr_size=0x8000, pmisc_size=0x2000, total_size=1 << 20)
    with pytest.raises(DeviceError, match="does not fit"):
        emulated.read_control(_page(win), mapped_size=1 << 16)


def test_read_rejects_non_qat_identity() -> None:
    win = emulated.plan_windows(csr_size=0x8000, pmisc_size=0x2000, total_size=1 << 20)
    with pytest.raises(DeviceError, match="not a QAT function"):
        emulated.read_control(_page(win, device_id=0x1234))


def test_the_defect_code_is_no_firmware_error_code() -> None:
    # docs/hardware.md#response: firmware codes run 0..-50; -128 is the signed byte's far end.
    assert emulated.DEFECT_ERROR_CODE == -128
    assert emulated.DEFECT_ERROR_CODE not in {int(c) for c in ErrCode}


def test_a_page_from_before_the_defect_record_reads_as_no_defect() -> None:
    win = emulated.plan_windows(csr_size=0x8000, pmisc_size=0x2000, total_size=1 << 20)
    assert emulated.read_defect(_page(win)) == emulated.Defect(count=0, text="")


def test_the_defect_record_round_trips() -> None:
    win = emulated.plan_windows(csr_size=0x8000, pmisc_size=0x2000, total_size=1 << 20)
    buf = _page(win)
    page = qathw_emu_control.from_buffer(buf)
    page.defect_count = 3
    page.defect = b"fakedev.engine.la:_run:42: KeyError: 'x'"
    del page
    got = emulated.read_defect(buf)
    assert got == emulated.Defect(count=3, text="fakedev.engine.la:_run:42: KeyError: 'x'")


def test_hostile_defect_text_is_bounded_and_printable() -> None:
    # A guest writes the page: no NUL, control characters, escapes, non-ASCII.
    buf = bytearray(4096)
    off, size = qathw_emu_control.defect.offset, qathw_emu_control.defect.size
    hostile = b"\x1b[2J\r\n" + "é".encode() + b"\x7f" + b"A" * size
    buf[off : off + size] = hostile[:size]
    text = emulated.read_defect(buf).text
    assert len(text) == emulated.DEFECT_TEXT_LEN - 1
    assert text.startswith("?[2J?????A")  # ESC CR LF, the two bytes of é, DEL
    assert all(" " <= ch <= "~" for ch in text)


def test_reading_the_defect_record_needs_its_bytes() -> None:
    with pytest.raises(ValueError, match="needs 512 bytes"):
        emulated.read_defect(bytes(300))
