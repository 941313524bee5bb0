"""One JSON vocabulary across commands (docs/admin.md#json): the same field names for the
same facts, PCI ids as hex strings, one schema_version."""

from __future__ import annotations

import json

from qathw.cli import JSON_SCHEMA_VERSION
from qathw.cli.commands.monitor import event_doc, listening_doc
from qathw.udev import PciEvent
from tests.fakedev_sysfs.helpers import FakeFactory, run_cli


def test_status_and_list_name_the_same_facts_alike(make_fake: FakeFactory) -> None:
    fake = make_fake("c62x-3dev")
    status = json.loads(run_cli(fake, "status", "--json").out)["devices"]
    listed = {f["bdf"]: f for f in json.loads(run_cli(fake, "list", "--json").out)["functions"]}
    for dev in status:
        fn = listed[dev["bdf"]]
        for key in ("name", "accel_id", "inst_id", "class_name", "numa_node", "role", "state"):
            assert dev[key] == fn[key], key


def test_schema_version_is_2(make_fake: FakeFactory) -> None:
    assert JSON_SCHEMA_VERSION == 2
    assert json.loads(run_cli(make_fake("seed"), "status", "--json").out)["schema_version"] == 2


def test_pci_ids_are_hex_strings_in_list_show_and_monitor(make_fake: FakeFactory) -> None:
    fake = make_fake("seed")
    fn = json.loads(run_cli(fake, "list", "--json", "--pf").out)["functions"][0]
    assert (fn["vendor"], fn["device"], fn["qat_device"]) == ("0x8086", "0x4940", "0x4940")
    pci = json.loads(run_cli(fake, "show", "--json", "qat_dev0").out)["pci"]
    assert (pci["subsystem_vendor"], pci["class"]) == ("0x8086", "0x0b4000")
    ev = PciEvent("bind", "0000:6b:00.1", 0x8086, 0x4941, "vfio-pci", 7, 1.0, "4xxxvf")
    assert (event_doc(ev)["vendor"], event_doc(ev)["device"]) == ("0x8086", "0x4941")
    assert listening_doc("udev", ("bind",), False)["action"] == "listening"
