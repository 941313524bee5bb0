"""The fake device's own counters: where they sit in the control page, what they count."""

from __future__ import annotations

import ctypes
from pathlib import Path

import pytest

from qathw import emulated
from qathw.emulated import qathw_emu_bank_counters, qathw_emu_control
from tests.exporter.served import ServedHost, send_requests
from tests.fakedev_sysfs.helpers import write_endpoint_file


def test_counters_sit_in_the_upper_half_of_the_control_page() -> None:
    # Added in reserved space, layout version kept: an older file reads zeros there.
    field = qathw_emu_control.bank_counters
    assert (field.offset, field.size) == (0x800, 64 * 24)
    assert qathw_emu_control.reserved4.offset == 568
    assert ctypes.sizeof(qathw_emu_control) == emulated.CONTROL_PAGE_SIZE


@pytest.mark.parametrize(
    ("name", "offset"), [("requests", 0), ("request_bytes", 8), ("response_bytes", 16)]
)
def test_bank_counter_fields_are_64_bit_at_fixed_offsets(name: str, offset: int) -> None:
    field = getattr(qathw_emu_bank_counters, name)
    assert (field.offset, field.size) == (offset, 8)


def test_a_new_endpoint_has_counted_nothing(tmp_path: Path) -> None:
    path = write_endpoint_file(tmp_path / "ep", "4xxxvf")
    raw = path.read_bytes()[: emulated.CONTROL_PAGE_SIZE]
    banks = emulated.read_counters(raw, emulated.read_control(raw, mapped_size=1 << 20).num_banks)
    assert [(b.bank, b.requests, b.request_bytes, b.response_bytes) for b in banks] == [
        (b, 0, 0, 0) for b in range(4)
    ]


def test_counters_past_the_page_are_refused() -> None:
    with pytest.raises(ValueError, match="need 3584 bytes"):
        emulated.read_counters(bytes(0x900), 4)


def test_the_device_counts_requests_and_message_bytes_per_bank(served: ServedHost) -> None:
    send_requests(served, 25)
    send_requests(served, 5)
    raw = (served.root / "qat0").read_bytes()[: emulated.CONTROL_PAGE_SIZE]
    busy = [b for b in emulated.read_counters(raw, 64) if b.requests]
    # qathw sample cipher holds SSL_DEV0_INT_0, whose instance is on bank 9
    assert [(b.bank, b.requests, b.request_bytes, b.response_bytes) for b in busy] == [
        (9, 30, 30 * 128, 30 * 32)
    ]
