"""open_instances: a held section's instances bound to the ring pairs its configuration gave.

Each test starts a section of its own (a process holds one at a time).
"""

from __future__ import annotations

import itertools
import os
import shutil
import uuid
import zlib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

import qathw
from fakedev import sysfs
from qathw.endpoint import open_emulated
from qathw.errors import (
    DeviceNotFoundError,
    QatError,
    RingConfigError,
    SectionStateError,
    UnsupportedAlgorithmError,
)
from qathw.paths import HostRoot
from qathw.service.instance import ring_slots
from tests.service import rig


def test_instances_are_bound_to_the_banks_and_rings_of_their_section(live: rig.Host) -> None:
    with qathw.user_start("SSL") as held, qathw.open_instances(held) as insts:
        (cy,), (dc,) = insts.cy, insts.dc
        asym, sym = cy.record.rings
        assert (asym.service, sym.service) == ("asym", "sym")
        pair = cy.channel.pair
        assert (pair.bank.number, pair.tx_ring, pair.rx_ring) == (sym.bank, sym.tx, sym.rx)
        assert pair.slots == 512 and pair.request_size == 128
        ep = cy.endpoint
        assert ep.bank(sym.bank).arb_enabled() == 1 << sym.tx
        assert ep.bank(asym.bank).arb_enabled() == 0  # qathw has no asym service: untouched
        (ring,) = dc.record.rings
        assert dc.channel.pair.bank.number == ring.bank
        assert dc.endpoint is not ep  # another device
        assert insts.by_name("SSL0") is cy and insts.by_name("Dc0") is dc
        assert list(insts) == [cy, dc]
        assert repr(cy) == f"<CyInstance SSL0 of {held.name}: qat_dev0 bank(s) 2/3, poll>"
        with pytest.raises(KeyError, match="'SSL0', 'Dc0'"):
            insts.by_name("SSL1")


@pytest.mark.parametrize(("depth", "slots"), [(1, 4), (4, 4), (100, 128), (512, 512)])
def test_ring_depth_is_rounded_up_to_a_ring_size(depth: int, slots: int) -> None:
    assert ring_slots(depth) == slots


def test_ring_depth_is_capped_at_the_largest_ring() -> None:
    assert ring_slots(1 << 20) == (4 << 20) // 128


def test_a_device_without_a_pci_function_says_how_to_present_one(host: rig.Host) -> None:
    empty = Path(f"/dev/shm/qathw-empty-{uuid.uuid4().hex[:8]}")
    host.sysfs_root = sysfs.build(empty, "empty").sysfs_root  # no QAT endpoint at all
    try:
        with rig.environment(host), qathw.user_start("SSL") as held:
            with pytest.raises(DeviceNotFoundError) as info:
                qathw.open_instances(held)
    finally:
        shutil.rmtree(empty, ignore_errors=True)
    err = info.value
    assert "qat_dev0 (4xxxvf_dev0.conf) has no PCI function to open" in err.what
    assert "'python -m fakedev create /dev/shm/qat0 --device 4xxxvf --size 64M'" in str(err)
    assert "--emulated 0000:00:10.0=/dev/shm/qat0" in str(err)
    assert "QATHW_SYSFS_ROOT" in str(err)


def test_a_cy_and_a_dc_instance_of_one_section_on_a_sym_dc_vf_both_run_a_request() -> None:
    # One gen4 VF serving sym;dc: the file's instances go to the banks its PF maps to their
    # services (dc on 0 and 2, sym on 1 and 3; docs/hardware.md#ring-to-service-map).
    text = rig.GENERAL.format(services="sym;dc", depth=512) + rig.section("SSL", cy=1, dc=1)
    vf = rig.Endpoint("0000:00:10.0", "4xxxvf", "sym;dc")
    host = rig.build((vf,), {"4xxxvf_dev0.conf": text})
    key, iv, data = os.urandom(16), os.urandom(16), os.urandom(64)
    plain = b"one VF, two services " * 40
    try:
        with rig.environment(host), rig.running(host), qathw.user_start("SSL") as held:
            with qathw.open_instances(held) as insts:
                (cy,), (dc,) = insts.cy, insts.dc
                got = cy.cipher("aes-128-cbc", key).encrypt(data, iv)
                packed = dc.compression().compress(plain).output
    finally:
        rig.remove(host)
    assert (cy.record.banks, dc.record.banks) == ((1,), (0,))
    enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    assert got == enc.update(data) + enc.finalize()
    assert zlib.decompress(packed, -15) == plain


def test_a_bank_the_device_serves_otherwise_is_refused_with_the_map(host: rig.Host) -> None:
    # dev0's file says asym;sym, but its PF serves dc on every bank.
    host.services["0000:00:10.0"] = "dc"
    with rig.environment(host), rig.running(host), qathw.user_start("SSL") as held:
        with pytest.raises(RingConfigError) as info:
            qathw.open_instances(held)
    text = str(info.value)
    assert "sym ring pair in bank 3 of 0000:00:10.0" in text
    assert "device serves comp there" in text
    assert "bank 0: comp, bank 1: comp, bank 2: comp, bank 3: comp" in text
    assert "ServicesEnabled in 4xxxvf_dev0.conf" in text


def test_an_instance_without_a_sym_ring_refuses_symmetric_sessions(host: rig.Host) -> None:
    (host.config / "4xxxvf_dev0.conf").write_text(
        rig.GENERAL.format(services="asym", depth=64) + rig.section("SSL", cy=1)
    )
    (host.config / "4xxxvf_dev1.conf").unlink()
    host.services["0000:00:10.0"] = "asym"
    with rig.environment(host), rig.running(host), qathw.user_start("SSL") as held:
        with qathw.open_instances(held) as insts:
            with pytest.raises(UnsupportedAlgorithmError, match="has no sym ring pair"):
                insts.cy[0].cipher("aes-128-cbc", bytes(16))


def test_a_section_that_is_not_held_cannot_be_opened(live: rig.Host) -> None:
    held = qathw.user_start("SSL")
    held.stop()
    with pytest.raises(SectionStateError, match="not held by this process"):
        qathw.open_instances(held)


def test_closed_instances_refuse_work(live: rig.Host) -> None:
    with qathw.user_start("SSL") as held:
        insts = qathw.open_instances(held)
        cy = insts.cy[0]
        s = cy.cipher("aes-128-cbc", bytes(16))
        insts.close()
        insts.close()  # idempotent
        with pytest.raises(QatError, match="closed"):
            s.encrypt_op(bytes(16), bytes(16))
        with pytest.raises(QatError, match="instance SSL0 is closed"):
            cy.cipher("aes-128-cbc", bytes(16))
        assert cy.poll() == 0


def test_a_polled_instance_has_no_file_descriptor(live: rig.Host) -> None:
    with qathw.user_start("SSL") as held, qathw.open_instances(held) as insts:
        with pytest.raises(QatError, match="IsPolled = 1") as info:
            insts.cy[0].fileno()
        assert "Cy0IsPolled = 2" in str(info.value)


def test_bank_memory_slices_are_disjoint_and_inside_device_memory(host: rig.Host) -> None:
    with open_emulated(host.files["0000:00:10.0"]) as ep:
        spans = []
        for b in range(ep.num_banks):
            pool = ep.bank_memory(b)
            assert ep.bank_memory(b) is pool
            block = pool.alloc(pool.capacity, align=1)
            spans.append((block.iova, block.iova + block.size))
        spans.sort()
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))
        assert spans[0][1] - spans[0][0] >= 1 << 20


def test_the_host_given_to_user_start_is_the_one_open_instances_opens(host: rig.Host) -> None:
    # No $QATHW_SYSFS_ROOT: only the host= given to user_start says where the devices are.
    with rig.running(host):
        root = HostRoot.from_sysfs_root(host.sysfs_root)
        with (
            qathw.user_start(
                "SSL", config_dir=host.config, runtime_dir=host.runtime, host=root
            ) as held,
            qathw.open_instances(held) as insts,
        ):
            assert held.host is root
            assert insts.cy[0].cipher("aes-128-cbc", bytes(16)).encrypt(
                bytes(16), bytes(16)
            ) == bytes.fromhex("66e94bd4ef8a2c3b884cfa59ca342b2e")
