"""``qathw list --json``: which VFs Intel's Kubernetes QAT device plugin would expose."""

from __future__ import annotations

import json
from typing import Any

from tests.fakedev_sysfs.helpers import FakeFactory, run_cli


def plugin_view(r_out: str) -> dict[str, Any]:
    return {f["bdf"]: f["device_plugin"] for f in json.loads(r_out)["functions"]}


def test_on_the_two_socket_host_only_the_first_64_vfs_are_exposed(make_fake: FakeFactory) -> None:
    view = plugin_view(run_cli(make_fake("spr-2s"), "list", "--json", "--vf").out)
    exposed = [bdf for bdf, v in view.items() if v["exposed"]]
    assert len(view) == 128 and len(exposed) == 64
    assert {b[5:7] for b in exposed} == {"6b", "70", "75", "7a"}  # socket 0's PFs
    assert "beyond its default -max-num-devices=64" in view["0000:e8:00.1"]["reason"]


def test_resource_follows_the_pf_services(make_fake: FakeFactory) -> None:
    view = plugin_view(run_cli(make_fake("seed"), "list", "--json").out)
    assert view["0000:6b:00.1"] == {
        "exposed": True,
        "resource": "qat.intel.com/cy",
        "reason": "on vfio-pci",
    }
    assert view["0000:70:00.1"]["resource"] == "qat.intel.com/dc"
    assert view["0000:6b:00.0"] is None  # PFs are not the plugin's


def test_a_vf_on_another_driver_is_exposed_after_a_rebind_and_gen2_is_not(
    make_fake: FakeFactory,
) -> None:
    view = plugin_view(run_cli(make_fake("awkward"), "list", "--json", "--vf").out)
    assert view["0000:6b:00.2"]["exposed"] is True
    assert view["0000:6b:00.2"]["reason"] == "on no driver; the plugin rebinds it to vfio-pci"
    gen2 = view["0000:3d:01.0"]
    assert gen2["exposed"] is False
    assert (
        "c6xxvf is not in the plugin's default -kernel-vf-drivers=4xxxvf,420xxvf"
        in (gen2["reason"])
    )


def test_scan_order_sorts_virtfn_names_as_strings(make_fake: FakeFactory) -> None:
    from qathw import deviceplugin, discovery

    fake = make_fake("spr-2s")
    inv = discovery.discover(fake.host)
    order = [bdf for bdf, e in deviceplugin.exposures(inv).items() if e.exposed]
    # virtfn10 (6b:01.3) sorts before virtfn2 (6b:00.3): both exposed, the 64 cut is by PF.
    assert "0000:6b:01.3" in order and "0000:7a:02.0" in order
