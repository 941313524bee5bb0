"""In a QEMU guest (real kernel, q35 + intel-iommu): the emulated endpoint is an ivshmem
function; ``qathw bind`` puts it on vfio-pci and ``qathw monitor`` sees the bind event.

One guest for the module (30-90 s to boot under TCG), from the vm harness.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fakedev_sysfs.helpers import write_endpoint_file
from tests.vm.fixtures import guest  # noqa: F401 - the module's booted guest
from vm.guest import Guest, GuestSpec

pytestmark = pytest.mark.vm

# The guest runs this as one shell script: a monitor that is listening (its netlink
# socket is open) before the bind happens, then the bind, then the monitor's output.
BIND_AND_WATCH = """
set -e
modprobe vfio-pci
python -m qathw bind {bdf} none --json > /dev/null
python -m qathw monitor --json --qat --count 1 --timeout 90 \
  > /tmp/qathw-mon.out 2> /tmp/qathw-mon.err &
mon=$!
for i in $(seq 1 300); do
  if ls -l /proc/$mon/fd 2> /dev/null | grep -q 'socket:'; then break; fi
  sleep 0.1
done
python -m qathw bind {bdf} vfio-pci --json
rc=0; wait $mon || rc=$?
echo "MONITOR rc=$rc"
cat /tmp/qathw-mon.out
cat /tmp/qathw-mon.err >&2
"""


@pytest.fixture(scope="module")
def guest_spec(tmp_path_factory: pytest.TempPathFactory) -> GuestSpec:
    endpoint = write_endpoint_file(tmp_path_factory.mktemp("vm") / "endpoint.bin")
    return GuestSpec(shared_memory=(Path(endpoint),))


@pytest.fixture(scope="module")
def endpoint_bdf(guest: Guest) -> str:  # noqa: F811 - the fixture imported above
    listing = guest.python("-m", "qathw", "list", "--json", "--emulated", check=True)
    (fn,) = json.loads(listing.stdout)["functions"]
    assert fn["role"] == "emulated" and fn["class_name"] == "4xxxvf"
    return str(fn["bdf"])


def test_the_guest_lists_the_ivshmem_function_as_an_emulated_endpoint(
    guest: Guest,  # noqa: F811
    endpoint_bdf: str,
) -> None:
    status = guest.python("-m", "qathw", "status", check=True).stdout.splitlines()
    assert status[0] == "There is 1 QAT acceleration device(s) in the system:"
    assert f"type: 4xxxvf,  inst_id: 0,  node_id: 0,  bsf: {endpoint_bdf}," in status[1]


def test_bind_to_vfio_pci_on_a_real_kernel_is_seen_by_monitor(
    guest: Guest,  # noqa: F811
    endpoint_bdf: str,
) -> None:
    result = guest.run(BIND_AND_WATCH.format(bdf=endpoint_bdf), timeout=240, check=True)
    bind_out, monitor_rc, monitor_out = result.stdout.partition("MONITOR rc=")
    (change,) = json.loads(bind_out)["changes"]
    assert (change["bdf"], change["before"], change["after"]) == (endpoint_bdf, None, "vfio-pci")
    rc, _, lines = monitor_out.partition("\n")
    assert monitor_rc and rc == "0", result.stderr
    listening, event = (json.loads(line) for line in lines.splitlines())
    assert listening["action"] == "listening"
    assert (event["action"], event["bdf"], event["driver"], event["qat"]) == (
        "bind",
        endpoint_bdf,
        "vfio-pci",
        "ivshmem",
    )
    shown = guest.python("-m", "qathw", "show", endpoint_bdf, check=True).stdout
    assert "Kernel driver in use: vfio-pci" in shown
    assert "Emulated endpoint: backend connected" in shown
