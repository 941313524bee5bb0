"""The lossless document model and adf_ctl's reading of a file (docs/hardware.md#config-files)."""

from __future__ import annotations

from pathlib import Path

import pytest

from qathw.config import ConfigDocument, Severity
from qathw.config.document import LineKind
from tests.config.builders import corpus_files, needs_corpus


def parse(text: str | bytes) -> ConfigDocument:
    return ConfigDocument.parse(text, "t.conf")


def diag_rules(doc: ConfigDocument) -> list[str]:
    return [d.rule for d in doc.diagnostics]


@needs_corpus
@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: p.name[-40:])
def test_every_corpus_file_writes_back_byte_identical(path: Path) -> None:
    data = path.read_bytes()
    assert ConfigDocument.parse(data, path).to_bytes() == data


@pytest.mark.parametrize(
    "data",
    [
        b"[GENERAL]\r\nConfigVersion = 2\r\n",  # CRLF
        b"[GENERAL]\nConfigVersion = 2",  # no newline at the end
        b'\t[GENERAL]\t# c\n\tKey\t=\t"v"  \n\n\n',  # tabs, quotes, blank lines
        b"[A]\nk = caf\xc3\xa9\nx = \xff\xfe\n",  # UTF-8 and bytes that are not
        b"",
        b"\n\r\n\r",
    ],
)
def test_unusual_bytes_write_back_identical(data: bytes) -> None:
    assert parse(data).to_bytes() == data


def test_inline_comment_after_a_value_is_not_part_of_it() -> None:
    doc = parse("[SSL]\nNumProcesses=4 # four processes\n")
    assert doc.sections["SSL"].get("NumProcesses") == "4"


def test_quotes_are_stripped_when_the_value_starts_and_ends_with_them() -> None:
    doc = parse('[SSL]\nCy0Name = "SSL0"\nCy1Name = "half\n')
    assert doc.sections["SSL"].get("Cy0Name") == "SSL0"
    assert doc.sections["SSL"].get("Cy1Name") == '"half'
    assert doc.sections["SSL"].entries["Cy0Name"].quoted


def test_hash_inside_quotes_starts_a_comment_and_is_reported() -> None:
    doc = parse('[SSL]\nCy0Name = "a#b"\n')
    assert doc.sections["SSL"].get("Cy0Name") == '"a'
    (d,) = doc.diagnostics
    assert (d.rule, d.severity, d.line, d.column) == ("R12", Severity.WARNING, 2, 11)


def test_blanks_inside_names_keys_and_values_are_removed_and_reported() -> None:
    doc = parse('[SSL 0]\nCy0 Name = "SSL 0"\n')
    assert doc.sections["SSL0"].get("Cy0Name") == "SSL0"
    assert diag_rules(doc) == ["R12", "R12", "R12"]


def test_crlf_lines_read_like_lf_lines() -> None:
    lf = parse("[GENERAL]\nServicesEnabled = cy # c\n")
    crlf = parse("[GENERAL]\r\nServicesEnabled = cy # c\r\n")
    assert crlf.sections["GENERAL"].get("ServicesEnabled") == "cy"
    assert dict(crlf.sections["GENERAL"].entries) == dict(lf.sections["GENERAL"].entries)
    assert crlf.diagnostics == ()


def test_tabs_are_removed_as_qat_l_4_24_does_and_4_8_difference_is_reported() -> None:
    doc = parse("[SSL]\n\tCy0Name\t=\tSSL0\n")
    assert doc.sections["SSL"].get("Cy0Name") == "SSL0"
    (d,) = doc.diagnostics
    assert d.rule == "R12" and "'\\tCy0Name\\t' = '\\tSSL0'" in d.message


def test_indented_header_is_a_header_but_qat_1_7_reads_it_as_a_key() -> None:
    doc = parse("[A]\n  [SSL]\nk = v\n")
    assert doc.sections["SSL"].get("k") == "v"
    (d,) = doc.diagnostics
    assert "reads it as '[SSL]' = '[SSL]'" in d.message


def test_first_of_duplicate_keys_wins_and_the_repeat_is_reported() -> None:
    doc = parse("[SSL]\nNumProcesses = 4\nNumProcesses = 8\nNumProcesses = 4\n")
    assert doc.sections["SSL"].get("NumProcesses") == "4"
    assert [(d.rule, d.severity, d.line) for d in doc.diagnostics] == [
        ("R12", Severity.WARNING, 3),
        ("R12", Severity.INFO, 4),
    ]


def test_repeated_header_continues_the_first_section() -> None:
    doc = parse("[SSL]\na = 1\n[B]\n[SSL]\na = 2\nb = 3\n")
    assert list(doc.sections) == ["SSL", "B"]
    assert dict((k, e.value) for k, e in doc.sections["SSL"].entries.items()) == {
        "a": "1",
        "b": "3",
    }
    assert {d.line for d in doc.diagnostics} == {4, 5}


def test_key_before_any_section_is_an_error_with_position() -> None:
    doc = parse("# header comment\n  ServicesEnabled=sym;asym\n[GENERAL]\n")
    (d,) = doc.diagnostics
    assert (d.rule, d.severity, d.file, d.line, d.column) == ("R12", Severity.ERROR, "t.conf", 2, 3)
    assert doc.sections["GENERAL"].entries == {}


def test_a_file_with_no_section_at_all_parses_to_no_sections() -> None:
    doc = parse("# only a comment\n\n")
    assert doc.sections == {} and doc.diagnostics == ()
    assert [line.kind for line in doc.lines] == [LineKind.COMMENT, LineKind.BLANK]


@pytest.mark.parametrize(("length", "error"), [(127, False), (128, True)])
@pytest.mark.parametrize("where", ["section", "key", "value"])
def test_names_keys_and_values_must_be_shorter_than_128_bytes(
    length: int, error: bool, where: str
) -> None:
    long = "x" * length
    text = {
        "section": f"[{long}]\nk = v\n",
        "key": f"[S]\n{long} = v\n",
        "value": f"[S]\nk = {long}\n",
    }[where]
    doc = parse(text)
    assert [d.rule for d in doc.diagnostics if d.severity is Severity.ERROR] == (
        ["R11"] if error else []
    )


def test_header_without_bracket_is_ignored_and_keys_stay_in_the_previous_section() -> None:
    doc = parse("[A]\n[B\nk = v\n")
    assert list(doc.sections) == ["A"] and doc.sections["A"].get("k") == "v"
    assert doc.diagnostics[0].rule == "P1" and "go into [A]" in doc.diagnostics[0].message


def test_empty_value_drops_the_line_with_a_warning() -> None:
    doc = parse("[A]\nk = # nothing\n = v\n")
    assert doc.sections["A"].entries == {}
    assert diag_rules(doc) == ["P2", "P2"]
    assert doc.lines[1].kind is LineKind.IGNORED


def test_a_line_without_equals_becomes_key_equal_value_as_in_adf_ctl() -> None:
    doc = parse("[A]\nJustAWord\n")
    assert doc.sections["A"].get("JustAWord") == "JustAWord"
    assert diag_rules(doc) == ["P3"]


def test_an_equals_after_a_hash_still_splits_the_line() -> None:
    doc = parse("[A]\nFoo # a=b\n")
    assert doc.sections["A"].get("Foo") == "b"
    assert diag_rules(doc) == ["P4"]


def test_bytes_that_are_not_utf8_are_kept_and_reported() -> None:
    doc = parse(b"[A]\nk = \xff\n")
    assert doc.to_bytes() == b"[A]\nk = \xff\n"
    (d,) = doc.diagnostics
    assert (d.rule, d.line) == ("P5", 2)


def test_set_value_changes_only_that_value_keeping_quotes_and_comment() -> None:
    text = '[GENERAL]\r\nConfigVersion = 2\r\n[SSL]\r\nCy0Name = "SSL0"  # name\r\nx = 1\r\n'
    doc = parse(text).set_value("SSL", "Cy0Name", "TLS0")
    assert doc.to_text() == text.replace('"SSL0"', '"TLS0"')
    assert doc.sections["SSL"].get("Cy0Name") == "TLS0"


def test_set_value_adds_a_missing_key_and_a_missing_section() -> None:
    doc = parse("[SSL]\na = 1\n\n[B]\n").set_value("SSL", "b", "2").set_value("C", "c", "3")
    assert doc.to_text() == "[SSL]\na = 1\nb = 2\n\n[B]\n\n[C]\nc = 3\n"


@pytest.mark.parametrize(("key", "value"), [("a b", "1"), ("k", "#"), ("k", ""), ("k", '"q"')])
def test_set_value_refuses_what_adf_ctl_would_not_read_back(key: str, value: str) -> None:
    with pytest.raises(ValueError, match="cannot be written"):
        parse("[S]\n").set_value("S", key, value)
