"""Every real configuration file of the corpus parses and gets a pinned verdict.

One table: file -> (device type read from its name, verdict, rules of its errors and
warnings, capacity used). The files are real files no one here wrote
(../shared/qat-conf-corpus/PROVENANCE.tsv); the verdicts were checked by hand against the
driver rules of docs/hardware.md (#config-files, #config-keys, #sections-and-processes,
#ring-capacity). Only the Kubernetes plugin's ``qat.conf`` is invalid: it is qatlib's
/etc/sysconfig/qat format, not an adf_ctl file. c4xxx capacities rest on an inferred ring
layout (docs/hardware.md#ring-capacity).
"""

from __future__ import annotations

import pytest

from qathw.config import check_files
from tests.config.builders import CORPUS, needs_corpus

pytestmark = needs_corpus

# Table keys abbreviate the corpus file names' repository prefixes.
PREFIXES = {
    "E:": "intel__QAT_Engine__",
    "Z:": "intel__QATzip__",
    "K:": "intel__intel-device-plugins-for-kubernetes__",
    "P:": "patchguard__qatdriver__quickassist__utilities__adf_ctl__conf_files__",
    "V:": "nobidev__vyos-qat__quickassist__utilities__adf_ctl__conf_files__",
    "S:": "zhiyisun__qat__quickassist__utilities__adf_ctl__conf_files__",
}


def corpus_file(key: str) -> str:
    return PREFIXES[key[:2]] + key[2:]


TABLE: list[tuple[str, str, str, tuple[str, ...], str | None]] = [
    (
        "E:qat__config__c2xxx__multi_process_optimized__c2xxx_qa_dev0.conf",
        "c2xxx",
        "valid",
        (),
        "capacity not modelled",
    ),
    (
        "E:qat__config__c2xxx__multi_thread_optimized__c2xxx_qa_dev0_single_ae.conf",
        "c2xxx",
        "valid",
        (),
        "capacity not modelled",
    ),
    (
        "E:qat__config__c3xxx__multi_process_optimized__c3xxx_dev0.conf",
        "c3xxx",
        "valid",
        (),
        "banks 8/16; cy 32/64",
    ),
    (
        "E:qat__config__c6xx__multi_process_event-driven_optimized__c6xx_dev1.conf",
        "c6xx",
        "valid",
        (),
        "banks 16/16; cy 16/64",
    ),
    (
        "E:qat__config__c6xx__multi_thread_optimized__c6xx_dev2.conf",
        "c6xx",
        "valid",
        (),
        "banks 1/16; cy 4/64",
    ),
    (
        "E:qat__config__dh895xcc__multi_thread_optimized__dh895xcc_dev0.conf",
        "dh895xcc",
        "valid",
        (),
        "banks 2/32; cy 8/128",
    ),
    (
        "E:qat__config__dh895xcc_upstream__multi_process_optimized__dh895xcc_dev0.conf",
        "dh895xcc",
        "valid",
        (),
        "banks 8/32; cy 32/128",
    ),
    (
        "E:qat__config__dh89xxcc__multi_thread_optimized__dh89xxcc_qa_dev1_single_accel.conf",
        "dh89xxcc",
        "valid",
        (),
        "capacity not modelled",
    ),
    (
        "E:qat_hw_config__200xx__multi_process__200xx_dev0.conf",
        "200xx",
        "valid",
        (),
        "banks 4/16; cy 16/64",
    ),
    (
        "E:qat_hw_config__200xx__multi_thread__200xx_dev0.conf",
        "200xx",
        "valid",
        (),
        "banks 2/16; cy 8/64",
    ),
    (
        "E:qat_hw_config__4xxx__multi_process__4xxx_dev0.conf",
        "4xxx",
        "valid",
        (),
        "banks 64/64; asym 32/32, sym 32/32",
    ),
    (
        "E:qat_hw_config__4xxx__multi_thread__4xxx_dev0.conf",
        "4xxx",
        "valid",
        (),
        "banks 24/64; asym 12/32, sym 12/32",
    ),
    (
        "E:qat_hw_config__c3xxx__multi_process__c3xxx_dev0.conf",
        "c3xxx",
        "valid",
        (),
        "banks 8/16; cy 32/64",
    ),
    (
        "E:qat_hw_config__c3xxx__multi_thread__c3xxx_dev0.conf",
        "c3xxx",
        "valid",
        (),
        "banks 1/16; cy 2/64",
    ),
    (
        "E:qat_hw_config__c4xxx__multi_process__c4xxx_dev0.conf",
        "c4xxx",
        "warnings",
        ("R4",),
        "banks 16/128; cy 16/128, dc 0/128",
    ),
    (
        "E:qat_hw_config__c4xxx__multi_thread__c4xxx_dev0.conf",
        "c4xxx",
        "valid",
        (),
        "banks 2/128; cy 2/128, dc 0/128",
    ),
    (
        "E:qat_hw_config__c6xx__multi_process__c6xx_dev0.conf",
        "c6xx",
        "valid",
        (),
        "banks 4/16; cy 16/64",
    ),
    (
        "E:qat_hw_config__c6xx__multi_thread__c6xx_dev0.conf",
        "c6xx",
        "valid",
        (),
        "banks 2/16; cy 8/64",
    ),
    (
        "E:qat_hw_config__dh895xcc__multi_process__dh895xcc_dev0.conf",
        "dh895xcc",
        "valid",
        (),
        "banks 8/32; cy 32/128",
    ),
    (
        "E:qat_hw_config__dh895xcc__multi_thread__dh895xcc_dev0.conf",
        "dh895xcc",
        "valid",
        (),
        "banks 2/32; cy 8/128",
    ),
    (
        "Z:config_file__4xxx__multiple_process_opt__4xxx_dev0.conf",
        "4xxx",
        "valid",
        (),
        "banks 64/64; dc 64/64",
    ),
    (
        "Z:config_file__4xxx__multiple_thread_opt__4xxx_dev1.conf",
        "4xxx",
        "valid",
        (),
        "banks 32/64; dc 32/64",
    ),
    (
        "Z:config_file__c3xxx__multiple_thread_opt__c3xxx_dev0.conf",
        "c3xxx",
        "valid",
        (),
        "banks 4/16; dc 32/128",
    ),
    (
        "Z:config_file__c6xx__multiple_process_opt__c6xx_dev0.conf",
        "c6xx",
        "valid",
        (),
        "banks 4/16; dc 32/128",
    ),
    (
        "Z:config_file__c6xx__multiple_thread_opt__c6xx_dev2.conf",
        "c6xx",
        "valid",
        (),
        "banks 4/16; dc 32/128",
    ),
    (
        "Z:config_file__dh895xcc__multiple_process_opt__dh895xcc_dev0.conf",
        "dh895xcc",
        "valid",
        (),
        "banks 16/32; cy 0/64, dc 32/64",
    ),
    (
        "Z:test__performance_tests__config_file__4xxx__4xxx_dev0.conf",
        "4xxx",
        "warnings",
        ("R4",),
        "banks 6/64; dc 6/64",
    ),
    (
        "Z:test__performance_tests__config_file__c6xx__c6xx_dev0.conf",
        "c6xx",
        "valid",
        (),
        "banks 16/16; cy 0/32, dc 32/32",
    ),
    (
        "K:deployments__qat_plugin__overlays__qat_initcontainer__qat.conf",
        "unknown",
        "invalid",
        ("R1", "R12", "V4"),
        None,
    ),
    ("V:200xx_dev0.conf", "200xx", "valid", (), "banks 4/16; cy 7/32, dc 2/32"),
    ("V:c4xxx_dev0.conf", "c4xxx", "valid", (), "banks 6/128; cy 6/128, dc 2/128"),
    ("V:c4xxx_dev0.conf.dc.low", "c4xxx", "valid", (), "banks 2/128; cy 0/128, dc 2/128"),
    ("V:c4xxxvf_dev0.conf.vm", "c4xxxvf", "valid", (), "banks 1/1; cy 1/1, dc 1/1"),
    ("V:c6xx_dev0.conf.xen", "c6xx", "valid", (), "banks 0/16; cy 0/64"),
    ("V:dh895xcc_dev0.conf", "dh895xcc", "valid", (), "banks 2/32; cy 3/64, dc 2/64"),
    ("P:c3xxx_dev0.conf", "c3xxx", "valid", (), "banks 4/16; cy 7/32, dc 2/32"),
    ("P:c6xx_dev0.conf", "c6xx", "valid", (), "banks 4/16; cy 7/32, dc 2/32"),
    ("P:c6xx_dev0.conf.dc", "c6xx", "valid", (), "banks 1/16; dc 2/128"),
    ("P:c6xx_dev0.conf.dc.sym", "c6xx", "valid", (), "banks 3/16; sym 7/64, dc 2/64"),
    ("P:c6xxpf_dev0.conf", "c6xx", "valid", (), "banks 0/16; cy 0/32, dc 0/32"),
    ("P:c6xxvf_dev0.conf.dc.sym.vm", "c6xxvf", "valid", (), "banks 1/1; sym 2/4, dc 2/4"),
    ("P:d15xx_dev0.conf.dc.sym.km", "d15xx", "valid", (), "banks 11/16; sym 13/64, dc 4/64"),
    ("P:dh895xcc_dev0.conf", "dh895xcc", "valid", (), "banks 2/32; cy 3/64, dc 2/64"),
    ("P:dh895xcc_dev0.conf.km", "dh895xcc", "valid", (), "banks 8/32; cy 7/64, dc 4/64"),
    ("P:dh895xccvf_dev0.conf.vm", "dh895xccvf", "valid", (), "banks 1/1; cy 2/2, dc 2/2"),
    ("S:4xxx_template.conf", "4xxx", "valid", (), "banks 4/64; asym 2/32, dc 2/32"),
    ("S:4xxx_template.conf.asym", "4xxx", "valid", (), "banks 2/64; asym 2/64"),
    ("S:4xxx_template.conf.sym", "4xxx", "valid", (), "banks 4/64; sym 4/64"),
    ("S:4xxxvf_dev0.conf.dc.vm", "4xxxvf", "valid", (), "banks 2/4; dc 2/4"),
    ("S:4xxxvf_dev0.conf.vm", "4xxxvf", "valid", (), "banks 4/4; asym 2/2, dc 2/2"),
]


def test_the_table_covers_every_corpus_file() -> None:
    on_disk = {p.name for p in CORPUS.iterdir() if p.name != "PROVENANCE.tsv"}
    assert on_disk == {corpus_file(row[0]) for row in TABLE}


@pytest.mark.parametrize(
    ("name", "device", "verdict", "rules", "capacity"), TABLE, ids=[r[0][-48:] for r in TABLE]
)
def test_corpus_file_verdict(
    name: str, device: str, verdict: str, rules: tuple[str, ...], capacity: str | None
) -> None:
    report = check_files([CORPUS / corpus_file(name)]).files[0]
    found = tuple(sorted({d.rule for d in report.diagnostics if d.severity.value != "info"}))
    assert (report.device.class_name, report.verdict, found) == (device, verdict, rules)
    assert (report.expansion.summary() if report.expansion else None) == capacity


def test_qat_engine_4xxx_multi_process_expands_to_eight_device_limited_sections() -> None:
    name = "intel__QAT_Engine__qat_hw_config__4xxx__multi_process__4xxx_dev0.conf"
    report = check_files([CORPUS / name])
    names = [s.name for s in report.expansion.sections]
    assert names == [f"SHIM_DEV0_INT_{i}" for i in range(8)]
    last = report.expansion.sections[-1]
    assert [i.name for i in last.instances] == [f"UserCY{n}" for n in range(4)]
    assert [i.core for i in last.instances] == [0, 1, 2, 3]
    assert last.instances[3].banks == (62, 63)


def test_kernel_qat_instances_take_kernel_banks_before_user_banks() -> None:
    name = (
        "patchguard__qatdriver__quickassist__utilities__adf_ctl__conf_files__"
        "d15xx_dev0.conf.dc.sym.km"
    )
    exp = check_files([CORPUS / name]).files[0].expansion
    assert exp is not None
    # [KERNEL] Cy0 on core 0, then [KERNEL_QAT] Dc0, Dc1, Cy0..Cy5 on cores 7, 8, 1..6:
    # one interrupt-mode bank per core, banks 0..8. [SSL] is polled and starts at bank 9,
    # Dc instances first (creation order CRYPTO, COMP, SYM, ASYM), 4 sym + 4 dc per bank.
    assert [b.kind for b in exp.banks[:11]] == ["kernel"] * 9 + ["user"] * 2
    got = [(i.kind, i.index, i.banks) for i in exp.derived[0].instances]
    assert got == [("cy", n, (9,)) for n in range(4)] + [("cy", 4, (10,)), ("cy", 5, (10,))] + [
        ("dc", 0, (9,)),
        ("dc", 1, (9,)),
    ]


def test_epoll_event_driven_file_uses_every_bank_of_c6xx() -> None:
    name = (
        "intel__QAT_Engine__qat__config__c6xx__multi_process_event-driven_optimized__c6xx_dev1.conf"
    )
    exp = check_files([CORPUS / name]).files[0].expansion
    assert exp is not None
    assert [b.sections for b in exp.banks] == [(f"SHIM_DEV0_INT_{i}",) for i in range(16)]
    assert {b.polling for b in exp.banks} == {2}
