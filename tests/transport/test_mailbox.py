"""The VF side of the gen4 PF/VF mailbox, against the fake's PF agent."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fakedev import endpoint_file
from fakedev.device import Device, Phase
from qathw.endpoint import open_emulated
from qathw.errors import MailboxError
from qathw.transport import pfvf
from qathw.transport.mailbox import Mailbox, PfEvent
from qathw.transport.pfvf import Capability, Pf2VfType, RingService, Vf2PfType
from tests.transport.emu import Rig, make_rig

PF2VM, VM2PF = 0x1008, 0x100C  # a gen4 VF's PMISC, written out (docs/hardware.md#pfvf-mailbox)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = make_rig(tmp_path, connect=False)
    yield r
    r.close()


def mailbox(rig: Rig) -> Mailbox:
    assert rig.endpoint.mailbox is not None
    return rig.endpoint.mailbox


def test_version_negotiation(rig: Rig) -> None:
    assert mailbox(rig).negotiate() == pfvf.COMPAT_THIS_VERSION
    assert rig.device.agent is not None and rig.device.agent.vf_compat == 5


def test_connect_reads_capabilities_and_the_ring_to_service_map(rig: Rig) -> None:
    rig.endpoint.connect()
    assert rig.endpoint.services == (RingService.ASYM, RingService.SYM) * 2
    caps = Capability(rig.endpoint.capabilities or 0)
    assert Capability.SYMMETRIC in caps and Capability.ASYMMETRIC in caps
    assert Capability.COMPRESSION not in caps
    assert rig.device.agent is not None and rig.device.agent.vf_init


def test_a_dc_device_serves_its_own_map(tmp_path: Path) -> None:
    r = make_rig(tmp_path, ring_service_map=pfvf.ring_service_map_from_names("sym;dc"))
    try:
        assert r.endpoint.services == (RingService.COMP, RingService.SYM) * 2
        assert Capability.COMPRESSION in Capability(r.endpoint.capabilities or 0)
        assert r.endpoint.request_size(1) == 128
    finally:
        r.close()


def test_block_messages_come_with_a_good_crc(rig: Rig) -> None:
    mb = mailbox(rig)
    mb.negotiate()
    blob = mb.read_block(pfvf.BlockType.RING_SVC_MAP)
    assert blob == bytes([0x01, 0x02, 0x1C, 0x07])  # docs/hardware.md#known-answers: CRC 0xAC


def test_an_unknown_block_is_refused(rig: Rig) -> None:
    with pytest.raises(MailboxError, match="invalid block type"):
        mailbox(rig).read_block(9)


def test_ring_pair_reset_clears_the_bank(rig: Rig) -> None:
    rig.endpoint.connect()
    pair = rig.endpoint.ring_pair(1, slots=16)
    bank = pair.bank
    assert bank.read_ring(bank.layout.ring_config, pair.tx_ring) != 0
    mailbox(rig).reset_ring_pair(1)
    assert bank.read_ring(bank.layout.ring_config, pair.tx_ring) == 0
    assert bank.arb_enabled() == 0


def test_reset_of_a_bank_that_cannot_be_named(rig: Rig) -> None:
    with pytest.raises(MailboxError, match=r"0\.\.3"):
        mailbox(rig).reset_ring_pair(4)


def test_the_pf_answers_invalid_bank_for_a_vf_with_fewer_banks(tmp_path: Path) -> None:
    # A raw RP_RESET for bank 3 on an agent that owns only 2 banks.
    r = make_rig(tmp_path, connect=False)
    try:
        assert r.device.agent is not None
        r.device.agent._banks = 2
        with pytest.raises(MailboxError, match="invalid bank"):
            mailbox(r).reset_ring_pair(3)
    finally:
        r.close()


def test_no_backend_is_a_timeout_with_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "quiet.qat"
    endpoint_file.create(path, size=1 << 20)
    with open_emulated(path, mailbox_timeout=0.05) as ep:
        with pytest.raises(MailboxError, match="did not acknowledge") as info:
            ep.connect()
        assert "fakedev serve" in str(info.value.hint)
        assert ep.pmisc.read32(0x100C) == 0  # the request was withdrawn


def test_a_notification_waiting_in_pf2vm_does_not_block_a_request(rig: Rig) -> None:
    mb = mailbox(rig)
    events: list[PfEvent] = []
    mb.subscribe(events.append)
    mb.negotiate()
    mb.init()
    assert rig.device.agent is not None
    rig.device.agent.notify(Pf2VfType.FATAL_ERROR)
    rig.step()  # FATAL_ERROR now sits in PF2VM, unacknowledged
    # The PF will not take a request until PF2VM is free; the send takes the notification.
    mb.reset_ring_pair(0)
    assert events == []  # taken while sending, handed out by the next poll
    assert mb.poll() == [PfEvent.FATAL_ERROR]
    assert events == [PfEvent.FATAL_ERROR]


def test_restarting_complete_ends_init_so_the_pf_sends_no_restarted(rig: Rig) -> None:
    # adf_pfvf_pf_proto.c: RESTARTING_COMPLETE clears vf_info->init; adf_pf2vf_notify_restarted
    # sends RESTARTED only to VFs with init set: the VF learns of the return by reopening.
    mb = mailbox(rig)
    rig.endpoint.connect()
    rig.device.inject("restart")
    rig.step()  # RESTARTING goes out
    assert mb.poll() == [PfEvent.RESTARTING]  # ... and RESTARTING_COMPLETE comes back
    agent = rig.device.agent
    assert agent is not None and agent.restart_acknowledged and not agent.vf_init
    assert not mb.initialised
    rig.step()  # SR-IOV disabled
    assert rig.phase() is Phase.REMOVED
    rig.advance(1.0)
    rig.step(3)  # back, as a new function
    assert rig.phase() is Phase.RUNNING
    assert rig.endpoint.pmisc.read32(PF2VM) == 0  # no RESTARTED waiting


def test_a_vf_whose_init_survived_gets_restarted_after_the_return(rig: Rig) -> None:
    # A version-5 VF that never answered RESTARTING: the PF times out, removes the function,
    # and after the return sends RESTARTED to it (its init is still set).
    rig.endpoint.connect()
    rig.device.inject("restart")
    rig.step()
    rig.advance(11.0)  # the PF waits up to 100 x 100 ms
    rig.step()
    assert rig.phase() is Phase.REMOVED
    rig.advance(1.0)
    rig.step(3)
    word = rig.endpoint.pmisc.read32(PF2VM)
    assert word & pfvf.PFVF_INT and pfvf.msg_type(word) == Pf2VfType.RESTARTED


def _connect_with_version(rig: Rig, version: int) -> None:
    pmisc = rig.device.file.pmisc
    pmisc[VM2PF // 4] = pfvf.encode(Vf2PfType.COMPAT_VER_REQ, version)
    rig.step(2)
    pmisc[PF2VM // 4] &= ~pfvf.PFVF_INT
    pmisc[VM2PF // 4] = pfvf.encode(Vf2PfType.INIT)
    rig.step()


def test_restarted_and_fatal_error_go_only_to_a_vf_of_version_5(rig: Rig) -> None:
    # adf_pf2vf_notify_restarted / _fatal_error: vf->init && vf_compat_ver >= FALLBACK (5).
    _connect_with_version(rig, 4)
    agent = rig.device.agent
    assert agent is not None and agent.vf_init and agent.vf_compat == 4
    rig.device.inject("fatal")
    rig.step(2)
    assert pfvf.msg_type(rig.device.file.pmisc[PF2VM // 4]) != Pf2VfType.FATAL_ERROR
    rig.device.inject("restart")
    rig.step()  # RESTARTING goes to any VF that sent INIT ...
    assert pfvf.msg_type(rig.device.file.pmisc[PF2VM // 4]) == Pf2VfType.RESTARTING
    rig.device.file.pmisc[PF2VM // 4] &= ~pfvf.PFVF_INT  # the VF acknowledges it
    rig.step()  # ... but waits for RESTARTING_COMPLETE only from version 5
    assert rig.phase() is Phase.REMOVED
    rig.advance(1.0)
    rig.step(3)
    assert rig.phase() is Phase.RUNNING and agent.vf_init
    assert rig.device.file.pmisc[PF2VM // 4] == 0  # no RESTARTED for version 4


def test_the_pf_acknowledges_a_request_before_it_answers(rig: Rig) -> None:
    # adf_gen4_pfvf_recv clears INT first; the answer is sent afterwards.
    pmisc = rig.device.file.pmisc
    pmisc[VM2PF // 4] = pfvf.encode(Vf2PfType.COMPAT_VER_REQ, pfvf.COMPAT_THIS_VERSION)
    rig.step()
    assert pmisc[VM2PF // 4] & pfvf.PFVF_INT == 0  # acknowledged ...
    assert pmisc[PF2VM // 4] == 0  # ... not answered yet
    rig.step()
    assert pfvf.msg_type(pmisc[PF2VM // 4]) == Pf2VfType.VERSION_RESP


def test_the_pf_overwrites_an_unacknowledged_message_after_its_ack_timeout(rig: Rig) -> None:
    # adf_gen4_pfvf_send writes PF2VM without looking and waits at most 1 s for the ack.
    agent = rig.device.agent
    assert agent is not None
    pmisc = rig.device.file.pmisc
    agent.notify(Pf2VfType.FATAL_ERROR)
    rig.step()  # FATAL_ERROR sits in PF2VM, unacknowledged
    pmisc[VM2PF // 4] = pfvf.encode(Vf2PfType.COMPAT_VER_REQ, pfvf.COMPAT_THIS_VERSION)
    rig.step(3)
    assert pmisc[VM2PF // 4] & pfvf.PFVF_INT == 0  # taken although PF2VM is busy
    assert pfvf.msg_type(pmisc[PF2VM // 4]) == Pf2VfType.FATAL_ERROR  # within the ack wait
    rig.advance(1.0)
    rig.step()
    assert pfvf.msg_type(pmisc[PF2VM // 4]) == Pf2VfType.VERSION_RESP  # overwritten


def test_a_vf_that_never_sent_init_gets_no_restart_messages(rig: Rig) -> None:
    mb = mailbox(rig)
    mb.negotiate()
    rig.device.inject("restart")
    rig.step(3)
    assert mb.poll() == []


def test_legacy_and_raw_messages_are_answered_as_the_kernel_does(tmp_path: Path) -> None:
    path = tmp_path / "raw.qat"
    endpoint_file.create(path, size=1 << 20)
    with Device(path) as dev:
        pmisc = dev.file.pmisc
        vm2pf, pf2vm = 0x100C // 4, 0x1008 // 4
        pmisc[vm2pf] = pfvf.encode(Vf2PfType.VERSION_REQ)
        dev.step(), dev.step()  # acknowledged, then answered
        assert pmisc[vm2pf] & 1 == 0
        answer = pmisc[pf2vm]
        assert pfvf.msg_type(answer) == Pf2VfType.VERSION_RESP
        assert pfvf.msg_data(answer) == 0x11 | 1 << 8
        pmisc[pf2vm] = answer & ~1
        pmisc[vm2pf] = (0x3F << 2) | 3  # unknown type: acknowledged, no answer
        dev.step()
        assert pmisc[vm2pf] & 1 == 0 and pmisc[pf2vm] & 1 == 0
