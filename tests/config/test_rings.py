"""Expansion and ring allocation, as the driver does them.

Sources: docs/hardware.md#config-keys, #ring-capacity and #sections-and-processes.
"""

from __future__ import annotations

import pytest

from qathw.config import check_files, values
from qathw.config.profiles import profile_for
from qathw.config.rings import RingPair, bank_layout
from qathw.config.values import Svc
from qathw.ids import Generation
from qathw.transport import pfvf
from qathw.transport.pfvf import RingService
from tests.config.builders import CORPUS, general, needs_corpus, report_of, user

C, D, S, A, N = Svc.CRYPTO, Svc.COMP, Svc.SYM, Svc.ASYM, Svc.NA


def layout(device: str, slots: tuple[Svc, Svc, Svc, Svc], bank: int = 0) -> list[object]:
    profile = profile_for(device)
    assert profile is not None
    return [(s.stype, s.rings) for s in bank_layout(slots, profile, bank)]


def test_gen2_cy_bank_holds_four_cy_instances_asym_rings_before_sym() -> None:
    assert layout("c6xx", (C, C, C, C)) == [
        (C, {"asym": (0, 8), "sym": (2, 10)}),
        (C, {"asym": (1, 9), "sym": (3, 11)}),
        (C, {"asym": (4, 12), "sym": (6, 14)}),
        (C, {"asym": (5, 13), "sym": (7, 15)}),
    ]


def test_gen2_cy_dc_bank_holds_two_cy_and_two_dc() -> None:
    assert layout("c6xx", (C, C, N, D)) == [
        (C, {"asym": (0, 8), "sym": (2, 10)}),
        (C, {"asym": (1, 9), "sym": (3, 11)}),
        (D, {"dc": (6, 14)}),
        (D, {"dc": (7, 15)}),
    ]


def test_gen4_bank_is_one_ring_pair_of_the_slot_bank_mod_4() -> None:
    assert [layout("4xxx", (A, S, A, S), b) for b in range(5)] == [
        [(A, {"asym": (0, 1)})],
        [(S, {"sym": (0, 1)})],
        [(A, {"asym": (0, 1)})],
        [(S, {"sym": (0, 1)})],
        [(A, {"asym": (0, 1)})],
    ]


def test_seed_scenario_expands_to_exactly_nine_internal_sections(seed_files: list[str]) -> None:
    report = check_files(seed_files)
    assert [s.name for s in report.expansion.sections] == [
        "IPSec_INT_0",
        *(f"SSL_DEV{d}_INT_{i}" for d in (0, 1) for i in range(4)),
    ]
    ipsec = report.expansion.get("IPSec_INT_0")
    assert ipsec is not None
    assert [(i.device.accel_id, i.name) for i in ipsec.instances] == [
        (d, f"IPSec{n}") for d in (0, 1) for n in range(4)
    ]
    # asym;sym: every Cy instance gets its sym bank first, then all get their asym banks
    assert [i.rings for i in ipsec.instances[:2]] == [
        (RingPair("asym", 0, 0, 1, 64), RingPair("sym", 1, 0, 1, 512)),
        (RingPair("asym", 2, 0, 1, 64), RingPair("sym", 3, 0, 1, 512)),
    ]
    ssl = report.expansion.get("SSL_DEV1_INT_3")
    assert ssl is not None and [(i.device.accel_id, i.banks) for i in ssl.instances] == [
        (1, (14, 15))
    ]


def test_derived_keys_drop_process_keys_and_add_rings(seed_files: list[str]) -> None:
    ssl = check_files(seed_files).expansion.get("SSL_DEV0_INT_1")
    assert ssl is not None
    keys = dict(ssl.parts[0].keys)
    assert "NumProcesses" not in keys and "LimitDevAccess" not in keys
    assert keys["NumberCyInstances"] == "1"  # the alias, under the driver's name
    assert (keys["Cy0SymBankNumber"], keys["Cy0AsymBankNumber"]) == ("11", "10")
    assert (keys["Cy0RingAsymTx"], keys["Cy0RingAsymRx"]) == ("0", "1")
    assert keys["Cy0NumConcurrentSymRequests"] == "512"


def test_process_i_takes_core_affinity_element_i_mod_len() -> None:
    r = report_of(general() + user(processes=6, cores="4-7"))
    assert r.expansion is not None
    assert [d.instances[0].core for d in r.expansion.derived] == [4, 5, 6, 7, 4, 5]
    assert [dict(d.keys)["Cy0CoreAffinity"] for d in r.expansion.derived][:2] == ["4", "5"]


def test_instances_are_numbered_per_internal_section() -> None:
    r = report_of(general() + user(processes=3, cy=2))
    assert r.expansion is not None
    assert [[i.index for i in d.instances] for d in r.expansion.derived] == [[0, 1]] * 3


def test_polled_user_instances_pack_densely_on_gen2() -> None:
    r = report_of(general("cy") + user(processes=32, lda=1), "c6xx")
    assert r.expansion is not None and r.expansion.summary() == "banks 8/16; cy 32/64"


def test_gen2_polled_user_instances_start_above_the_kernel_banks() -> None:
    # A polled kernel bank is not in interrupt mode, so only FirstUserBundle keeps
    # user instances out of its three free slots.
    kernel = 'NumberCyInstances = 1\nCy0Name = "k"\nCy0IsPolled = 1\nCy0CoreAffinity = 0\n'
    text = general("cy").replace("NumberCyInstances = 0\n", kernel) + user(cy=1)
    r = report_of(text, "c6xx")
    assert r.expansion is not None
    assert r.expansion.kernel[0].banks == (0,)
    assert r.expansion.derived[0].instances[0].banks == (1,)


def test_a_process_creates_cy_then_dc_then_sym_then_asym_instances() -> None:
    # enum adf_cfg_service_type order: CRYPTO, COMP, SYM, ASYM. With sym;dc the kernel's
    # polled Dc0 takes bank 0 first; the interrupt-mode Cy0 cannot share it, so bank 1.
    kernel = (
        "NumberCyInstances = 1\nNumberDcInstances = 1\n"
        'Cy0Name = "k"\nCy0IsPolled = 0\nCy0CoreAffinity = 0\n'
        'Dc0Name = "d"\nDc0IsPolled = 1\nDc0CoreAffinity = 0\n'
    )
    text = general("sym;dc").replace("NumberCyInstances = 0\nNumberDcInstances = 0\n", kernel)
    r = report_of(text, "c6xx")
    assert r.expansion is not None
    assert [(i.kind, i.banks) for i in r.expansion.kernel] == [("cy", (1,)), ("dc", (0,))]


def _bank_services(text: str, device: str) -> list[str]:
    """What each bank serves, read off the instances the expansion put there."""
    r = report_of(text, device)
    assert r.expansion is not None and not r.expansion.failed
    served = {p.bank: p.service for s in r.expansion.derived for i in s.instances for p in i.rings}
    return [served[b] for b in sorted(served)]


@pytest.mark.parametrize("services", [s for s in values.accepted(Generation.GEN4) if ";" in s])
def test_a_gen4_vf_s_banks_serve_what_the_fake_pf_reports(services: str) -> None:
    # The endpoint decides what its banks serve; fakedev's PF agent reports the in-tree
    # map (docs/hardware.md#ring-to-service-map). Two instances of each kind fill 4 banks.
    dc = 2 if "dc" in services.split(";") else 0
    reported = pfvf.decode_ring_service_map(pfvf.ring_service_map_from_names(services))
    names = {RingService.ASYM: "asym", RingService.SYM: "sym", RingService.COMP: "dc"}
    text = general(services) + user(cy=2, dc=dc)
    assert _bank_services(text, "4xxxvf") == [names[svc] for svc in reported]


def test_a_sym_dc_gen4_vf_puts_dc_on_banks_0_and_2_as_the_in_tree_pf() -> None:
    # Linux adf_4xxx_hw_data.c adf_fw_sym_dc_config: AE group 0 (RP0, RP2) runs dc.
    text = general("sym;dc") + user(cy=2, dc=2)
    assert _bank_services(text, "4xxxvf") == ["dc", "sym", "dc", "sym"]


def test_a_pf_style_gen4_endpoint_keeps_the_qat20_layout() -> None:
    # No reported map: the OOT QAT20 table adf_4xxx_svcs, sym, sym, dc, dc.
    text = general("sym;dc") + user(cy=2, dc=2)
    assert _bank_services(text, "4xxx") == ["sym", "sym", "dc", "dc"]


def test_gen4_polled_user_instances_skip_kernel_banks_from_bank_0() -> None:
    kernel = 'NumberCyInstances = 1\nCy0Name = "k"\nCy0IsPolled = 0\nCy0CoreAffinity = 0\n'
    text = general("sym").replace("NumberCyInstances = 0\n", kernel) + user(cy=2)
    r = report_of(text, "4xxx")
    assert r.expansion is not None
    assert [i.banks for i in r.expansion.derived[0].instances] == [(1,), (2,)]


def test_epoll_processes_each_need_a_bank_of_their_own() -> None:
    r = report_of(general("cy") + user(processes=16, lda=1, polled=2), "c6xx")
    assert r.expansion is not None and r.expansion.summary() == "banks 16/16; cy 16/64"
    r = report_of(general("cy") + user(processes=17, lda=1, polled=2), "c6xx")
    (d,) = [d for d in r.diagnostics if d.rule == "R8"]
    assert d.message.startswith(
        "Don't have enough rings for instance SSLCy0 in process SSL_DEV0_INT_16"
    )
    assert "17 epoll processes need at least 17 banks; qat_dev0 has 16" in (d.hint or "")


def test_over_capacity_reports_how_full_the_device_is() -> None:
    r = report_of(general() + user(processes=9, lda=1, cy=4), "4xxx")
    (d,) = [d for d in r.diagnostics if d.rule == "R8"]
    assert "in process SSL_DEV0_INT_8" in d.message and "banks 64/64" in d.message
    assert "asym 36 of 32, sym 36 of 32" in (d.hint or "")
    assert r.expansion is not None and r.expansion.derived == ()  # the device fails


def test_siov_adis_take_the_banks_after_the_kernel_banks() -> None:
    text = general("dc") + "[SIOV]\nNumberAdis = 2\n" + user(cy=0, dc=1)
    r = report_of(text, "4xxx")
    assert r.expansion is not None
    assert [b.kind for b in r.expansion.banks[:3]] == ["adi", "adi", "user"]
    assert report_of(general("dc") + "[SIOV]\nNumberAdis = 65\n", "4xxx").verdict == "invalid"


@needs_corpus
def test_qatzip_4xxx_multi_process_file_fills_all_64_banks() -> None:
    name = "intel__QATzip__config_file__4xxx__multiple_process_opt__4xxx_dev0.conf"
    r = check_files([CORPUS / name])
    exp = r.files[0].expansion
    assert exp is not None and exp.summary() == "banks 64/64; dc 64/64"
    assert exp.derived[-1].name == "SHIM_DEV0_INT_63"


@needs_corpus
def test_gen1_files_expand_names_without_rings() -> None:
    name = "intel__QAT_Engine__qat__config__c2xxx__multi_process_optimized__c2xxx_qa_dev0.conf"
    exp = check_files([CORPUS / name]).files[0].expansion
    assert exp is not None and not exp.modelled
    assert [d.name for d in exp.derived] == [f"SHIM_DEV0_INT_{i}" for i in range(8)]
    assert exp.derived[0].instances[1].rings == ()


def test_an_epoll_process_shares_a_bank_only_between_instances_on_the_same_core() -> None:
    same = report_of(general("cy") + user(cy=2, polled=2, cores="3"), "c6xx").expansion
    assert same is not None and [i.banks for i in same.derived[0].instances] == [(0,), (0,)]
    text = general("cy") + user(cy=2, polled=2).replace(
        "Cy1CoreAffinity = 0", "Cy1CoreAffinity = 1"
    )
    split = report_of(text, "c6xx").expansion
    assert split is not None and [i.banks for i in split.derived[0].instances] == [(0,), (1,)]
