"""Mmio: widths, bounds, sub-windows, and closing without exported-pointer errors."""

import mmap
from pathlib import Path

import pytest

from qathw.errors import DeviceAccessError, MmioError
from qathw.mmio import Mmio


@pytest.fixture
def shm_file(tmp_path: Path) -> Path:
    path = tmp_path / "bar"
    path.write_bytes(bytes(0x4000))
    return path


def test_write32_is_little_endian_and_visible_in_the_file(shm_file: Path) -> None:
    with Mmio.map_file(shm_file) as regs:
        regs.write32(0x100, 0x11223344)
        assert regs.read32(0x100) == 0x11223344
    assert shm_file.read_bytes()[0x100:0x104] == bytes.fromhex("44332211")


def test_write64_spans_two_dwords(shm_file: Path) -> None:
    with Mmio.map_file(shm_file) as regs:
        regs.write64(0x40, 0x0123456789ABCDEF)
        assert (regs.read32(0x40), regs.read32(0x44)) == (0x89ABCDEF, 0x01234567)


def test_two_mappings_of_one_file_see_each_other(shm_file: Path) -> None:
    with Mmio.map_file(shm_file) as a, Mmio.map_file(shm_file) as b:
        a.write32(0x10, 7)
        assert b.read32(0x10) == 7


@pytest.mark.parametrize(
    ("offset", "what"), [(0x4000, "outside"), (-4, "outside"), (0x102, "unaligned")]
)
def test_bad_offsets_raise(shm_file: Path, offset: int, what: str) -> None:
    with Mmio.map_file(shm_file) as regs, pytest.raises(MmioError, match=what):
        regs.read32(offset)


def test_value_must_fit_the_width(shm_file: Path) -> None:
    with Mmio.map_file(shm_file) as regs, pytest.raises(ValueError):
        regs.write32(0, 1 << 32)


def test_window_offsets_are_relative_and_bounded(shm_file: Path) -> None:
    with Mmio.map_file(shm_file) as regs:
        win = regs.window(0x1000, 0x1000, name="BAR0")
        win.write32(0x4, 0xAB)
        assert regs.read32(0x1004) == 0xAB
        with pytest.raises(MmioError, match="BAR0"):
            win.read32(0x1000)


def test_close_releases_windows_and_the_mapping(shm_file: Path) -> None:
    regs = Mmio.map_file(shm_file)
    win = regs.window(0, 0x100)
    regs.close()
    assert regs.closed and win.closed
    with pytest.raises(MmioError, match="after close"):
        win.read32(0)


def test_close_of_a_wrapped_mmap_leaves_it_open() -> None:
    mm = mmap.mmap(-1, 0x1000)
    Mmio(mm).close()
    mm.close()  # would raise BufferError if a view were still exported


def test_missing_file_is_a_device_access_error(tmp_path: Path) -> None:
    with pytest.raises(DeviceAccessError) as info:
        Mmio.map_file(tmp_path / "absent")
    assert info.value.errno == 2 and info.value.path is not None
