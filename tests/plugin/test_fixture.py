"""The ``qat_host`` fixture and marker, as this suite sees them (the plugin is installed)."""

from __future__ import annotations

import os

import pytest

import qathw
from fakedev import Endpoint, QatHost, Section
from fakedev.host import QatHost as HostClass
from fakedev.hostspec import FakeHostError
from fakedev.pytest_plugin import host_arguments
from qathw.paths import ENV_CONFIG_DIR, ENV_RUNTIME_DIR, ENV_SYSFS_ROOT
from tests.plugin.procs import is_device_process


def test_the_fixture_is_a_running_host_with_its_environment_set(qat_host: QatHost) -> None:
    assert isinstance(qat_host, HostClass)
    assert {k: os.environ[k] for k in (ENV_SYSFS_ROOT, ENV_CONFIG_DIR, ENV_RUNTIME_DIR)} == (
        qat_host.env
    )
    assert [is_device_process(p) for p in qat_host.pids] == [True]


def test_by_default_ssl_opens_one_cy_and_one_dc_instance(qat_host: QatHost) -> None:
    with qathw.user_start("SSL") as held, qathw.open_instances(held) as insts:
        assert (held.name, len(insts.cy), len(insts.dc)) == ("SSL_INT_0", 1, 1)


@pytest.mark.qat_host(
    endpoints=[Endpoint("4xxx", "asym;sym")], sections=[Section("IPSec", cy=4, processes=2)]
)
def test_the_marker_chooses_endpoints_and_sections(qat_host: QatHost) -> None:
    assert [(e.kind, e.config_file.name) for e in qat_host.endpoints] == [
        ("4xxx", "4xxx_dev0.conf")
    ]
    with qathw.user_start("IPSec") as held, qathw.open_instances(held) as insts:
        assert (held.name, len(insts.cy), len(insts.dc)) == ("IPSec_INT_0", 4, 0)


@pytest.mark.qat_host(
    endpoints=["4xxxvf", "4xxxvf"], sections=[Section("SSL", cy=1, limit_dev_access=True)]
)
def test_the_marker_chooses_limit_dev_access(qat_host: QatHost) -> None:
    with qathw.user_start("SSL") as held:
        assert held.name == "SSL_DEV0_INT_0"


@pytest.mark.qat_host(topology="gen4-mix")
def test_the_marker_chooses_a_topology(qat_host: QatHost) -> None:
    functions = {e.name for e in (qat_host.sysfs_root / "bus" / "pci" / "devices").iterdir()}
    assert {"0000:6b:00.0", "0000:f3:00.0", "0000:00:10.0"} <= functions


def test_marker_keywords_are_passed_on_as_given() -> None:
    mark = pytest.mark.qat_host(sections=["IPSec"], timeout=5).mark
    assert host_arguments(mark) == {"sections": ["IPSec"], "timeout": 5}
    assert host_arguments(None) == {}


@pytest.mark.parametrize(
    ("mark", "message"),
    [
        (pytest.mark.qat_host("4xxx"), "keywords only"),
        (pytest.mark.qat_host(devices=["4xxx"]), "takes endpoints, sections, topology, timeout"),
    ],
)
def test_marker_arguments_running_does_not_take_are_refused(
    mark: pytest.MarkDecorator, message: str
) -> None:
    with pytest.raises(FakeHostError, match=message):
        host_arguments(mark.mark)
