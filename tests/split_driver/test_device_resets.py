"""``device_resets``: every device restart is counted where a frontend can see it.

docs/split-driver.md#device-resets: a VF's return after removal and a PF-style
endpoint's in-place reset both count. A PF-style reset is a new function too: its
registers reset and its PCI command register cleared (Bus Master off), so a PF-style
endpoint, which has no mailbox to announce a restart, recovers as a VF does.
"""

from __future__ import annotations

from pathlib import Path

from fakedev.device import Device, Phase
from qathw.pci_regs import PCI_COMMAND_MASTER, PCI_COMMAND_MEMORY
from tests.fakedev_cli import run_fakedev
from tests.split_driver.helpers import Page, new_endpoint, serving, wait_until

ON = PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER


def _phase(dev: Device) -> Phase:
    """The device's phase, read afresh (a call: type checkers do not pin it)."""
    return dev.phase


def test_a_vf_restart_counts_one_device_reset(tmp_path: Path) -> None:
    path = new_endpoint(tmp_path / "vf.qat")
    now = [0.0]
    with Device(path, clock=lambda: now[0]) as dev, Page(path) as page:
        dev.connect()
        dev.inject("restart")  # no VF sent INIT: removed at once
        dev.step()
        assert _phase(dev) is Phase.REMOVED and page.get("device_resets") == 0
        now[0] += 1.0
        dev.step()
        assert _phase(dev) is Phase.RUNNING
        assert page.get("device_resets") == 1
        dev.disconnect()


def test_a_pf_style_restart_counts_a_reset_and_clears_the_pci_command_register(
    tmp_path: Path,
) -> None:
    path = new_endpoint(tmp_path / "pf.qat", "4xxx")
    with Device(path) as dev, Page(path) as page:
        dev.connect()
        page.set("pci_command", ON)
        arb = page.info.windows.csr_offset + dev.banks[0].regs.arb_en * 4
        page.mm[arb : arb + 4] = (1).to_bytes(4, "little")
        dev.inject("restart")
        assert page.get("device_resets") == 1
        assert page.get("pci_command") == 0  # a new function: no Memory Space, no Bus Master
        assert page.mm[arb : arb + 4] == bytes(4)  # registers at their reset values
        assert dev.phase is Phase.RUNNING
        dev.inject("restart")
        assert page.get("device_resets") == 2
        dev.disconnect()


def test_a_fatal_error_is_no_restart(tmp_path: Path) -> None:
    path = new_endpoint(tmp_path / "pf.qat", "4xxx")
    with Device(path) as dev, Page(path) as page:
        dev.inject("fatal")
        dev.step()
        assert page.get("device_resets") == 0


def test_inject_restart_into_a_served_pf_style_endpoint(tmp_path: Path) -> None:
    path = new_endpoint(tmp_path / "pf.qat", "4xxx")
    with serving(path), Page(path) as page:
        page.set("pci_command", ON)
        done = run_fakedev("inject", str(path), "restart")
        assert done.returncode == 0, done.stderr
        wait_until("the reset counted", lambda: page.get("device_resets") == 1)
        assert page.get("pci_command") == 0
