"""The PCI numbers in ``qathw.pci_regs`` match the installed ``linux/pci_regs.h``.

A small C program prints every number of the header that ``qathw.pci_regs`` names, and
says which names the header lacks. The names the header lacks must be exactly the ones
that come from kernel-internal headers (class codes, ``IORESOURCE_*``, resource indexes);
a misspelt name would otherwise go unchecked.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from qathw import pci_regs

HEADER = Path("/usr/include/linux/pci_regs.h")

NAMES = sorted(
    name
    for name, value in vars(pci_regs).items()
    if name.isupper() and isinstance(value, int) and not name.startswith("_")
)

# Not in the user-space header: pci_ids.h, ioport.h and pci.h are kernel-internal.
KERNEL_INTERNAL = {
    "PCI_CLASS_MEMORY_RAM",
    "PCI_CLASS_BRIDGE_PCI",
    "PCI_CLASS_BRIDGE_PCI_SEMI",
    "PCI_CLASS_PROCESSOR_CO",
    "IORESOURCE_IO",
    "IORESOURCE_MEM",
    "IORESOURCE_PREFETCH",
    "IORESOURCE_SIZEALIGN",
    "IORESOURCE_MEM_64",
    "PCI_ROM_RESOURCE",
    "PCI_IOV_RESOURCES",
    "PCI_IOV_RESOURCE_END",
    "PCI_BRIDGE_RESOURCES",
}


def _c_program() -> str:
    lines = ["#include <stdio.h>", "#include <linux/pci_regs.h>", "int main(void) {"]
    for name in NAMES:
        lines += [
            f"#ifdef {name}",
            f'printf("{name} %llu\\n", (unsigned long long)({name}));',
            "#else",
            f'printf("{name} -\\n");',
            "#endif",
        ]
    lines += ["return 0;", "}"]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def header(tmp_path_factory: pytest.TempPathFactory) -> dict[str, int | None]:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None or not HEADER.exists():
        pytest.skip(
            "no C compiler or no kernel headers: install gcc and linux-libc-dev to check "
            "the PCI numbers against linux/pci_regs.h"
        )
    work = tmp_path_factory.mktemp("pci_regs")
    src, exe = work / "pci_regs.c", work / "pci_regs"
    src.write_text(_c_program())
    subprocess.run([cc, "-Wall", "-Werror", "-o", str(exe), str(src)], check=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    table: dict[str, int | None] = {}
    for line in out.splitlines():
        name, value = line.split()
        table[name] = None if value == "-" else int(value)
    return table


@pytest.mark.parametrize("name", [n for n in NAMES if n not in KERNEL_INTERNAL])
def test_number_matches_the_header(name: str, header: dict[str, int | None]) -> None:
    assert getattr(pci_regs, name) == header[name]


def test_only_the_kernel_internal_names_are_missing_from_the_header(
    header: dict[str, int | None],
) -> None:
    assert {name for name, value in header.items() if value is None} == KERNEL_INTERNAL


def test_the_resource_file_lines_are_bars_rom_and_vf_bars() -> None:
    # include/linux/pci.h: PCI_ROM_RESOURCE 6, PCI_IOV_RESOURCES 7..12, bridge windows 13.
    assert (pci_regs.PCI_ROM_RESOURCE, pci_regs.PCI_IOV_RESOURCES) == (6, 7)
    assert (pci_regs.PCI_IOV_RESOURCE_END, pci_regs.PCI_BRIDGE_RESOURCES) == (12, 13)
