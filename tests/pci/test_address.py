"""PCI addresses: parsing, printing, ordering.

``PciAddress.parse`` is the one parser of PCI addresses; what it accepts and refuses is
specified here once.
"""

import pytest

from qathw.pci_regs import PciAddress


def test_parse_and_print_round_trip() -> None:
    addr = PciAddress.parse("0000:6b:00.1")
    assert (addr.domain, addr.bus, addr.device, addr.function) == (0, 0x6B, 0, 1)
    assert str(addr) == "0000:6b:00.1"


def test_short_form_means_domain_zero_and_case_does_not_matter() -> None:
    assert str(PciAddress.parse("F3:02.0")) == "0000:f3:02.0"
    assert str(PciAddress.parse("6B:00.1")) == "0000:6b:00.1"


def test_surrounding_whitespace_is_ignored() -> None:
    assert str(PciAddress.parse(" 0000:6b:00.1\n")) == "0000:6b:00.1"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "6b:00",
        "0000:6b:00.8",
        "0000:6b:20.0",
        "1:2:3:4.0",
        "xx:00.0",
        "0:6b:00.0",
        "00000:6b:00.0",
        "6b:0.1",
        "b:00.1",
        "0000:6b:00.1.0",
        "0000:6b:00.1 x",
    ],
)
def test_bad_addresses_say_what_is_expected(text: str) -> None:
    with pytest.raises(ValueError, match=r"not a PCI address: write it as dddd:bb:dd\.f"):
        PciAddress.parse(text)


def test_out_of_range_fields_are_refused() -> None:
    with pytest.raises(ValueError, match="out of range"):
        PciAddress(0, 0x100, 0, 0)


def test_addresses_sort_by_domain_bus_device_function() -> None:
    addrs = [PciAddress.parse(a) for a in ("0000:70:00.0", "0000:6b:01.0", "0000:6b:00.7")]
    assert [str(a) for a in sorted(addrs)] == ["0000:6b:00.7", "0000:6b:01.0", "0000:70:00.0"]
    assert PciAddress.parse("0000:6b:01.0").devfn == 8
