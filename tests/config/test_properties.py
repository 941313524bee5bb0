"""Properties of the parser and the checker, over generated input (hypothesis)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qathw.config import ConfigDocument, DeviceRef, check

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

NAME = st.text(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_", min_size=1, max_size=20
)
VALUE = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters='#"'),
    min_size=1,
    max_size=30,
)
BLANK = st.sampled_from(["", " ", "  "])
EOL = st.sampled_from(["\n", "\r\n"])


@FAST
@given(st.binary(max_size=400))
def test_arbitrary_bytes_never_crash_and_write_back_identical(data: bytes) -> None:
    doc = ConfigDocument.parse(data, "x.conf")
    assert doc.to_bytes() == data
    assert all(d.rule and d.message for d in doc.diagnostics)


@FAST
@given(st.text(max_size=400))
def test_arbitrary_text_never_crashes(text: str) -> None:
    doc = ConfigDocument.parse(text)
    assert doc.to_text() == text


KEYS = [
    "ServicesEnabled",
    "ConfigVersion",
    "NumberCyInstances",
    "NumberDcInstances",
    "NumProcesses",
    "LimitDevAccess",
    "Cy0Name",
    "Cy0IsPolled",
    "Cy0CoreAffinity",
    "Cy1Name",
    "Dc0Name",
    "Dc0IsPolled",
    "Dc0CoreAffinity",
    "NumberAdis",
    "statsGeneral",
    "NumCyInstances",
    "HeartbeatTimer",
    "CyNumConcurrentSymRequests",
]
VALUES = [
    "0",
    "1",
    "2",
    "4",
    "64",
    "0x10",
    "1a",
    "asym;sym",
    "cy",
    "dc",
    "cy;dc",
    "0-3",
    "3-1",
    "0,,1",
    '"x"',
    "x",
    "512",
    "65",
]
LINE = st.one_of(
    st.builds(
        lambda n: f"[{n}]",
        st.sampled_from(
            ["GENERAL", "KERNEL", "SSL", "SIOV", "KERNEL_QAT", "SSL_INT_0", "Accelerator0"]
        ),
    ),
    st.builds(lambda k, v: f"{k} = {v}", st.sampled_from(KEYS), st.sampled_from(VALUES)),
    st.sampled_from(["", "# c", "[", "x", "=1"]),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(LINE, max_size=40),
    st.sampled_from(["4xxx", "c6xx", "c4xxx", "c2xxx", "4xxxvf", "unknown"]),
)
def test_checking_config_like_text_never_crashes(lines: list[str], device: str) -> None:
    doc = ConfigDocument.parse("\n".join(lines), f"{device}_dev0.conf")
    report = check([(DeviceRef(0, device, 0, doc.path), doc)])
    assert report.files[0].verdict in ("valid", "warnings", "invalid")
    # every finding says what to do, and where when it is about a line
    assert all(d.hint and d.file == doc.path for d in report.all_diagnostics)


@st.composite
def configs(draw: st.DrawFn) -> tuple[str, dict[str, dict[str, str]]]:
    """A valid file and the sections the driver must read from it."""
    names = draw(st.lists(NAME, min_size=1, max_size=5, unique=True))
    model: dict[str, dict[str, str]] = {}
    out = []
    for name in names:
        eol = draw(EOL)
        if draw(st.booleans()):
            out.append(f"# {draw(st.text('abc =[]', max_size=10))}{eol}")
        out.append(f"[{name}]{draw(BLANK)}{eol}")
        entries = draw(st.dictionaries(NAME, VALUE, max_size=6))
        model[name] = entries
        for key, value in entries.items():
            quoted = draw(st.booleans())
            shown = f'"{value}"' if quoted else value
            comment = draw(st.sampled_from(["", " # note", "# x=y"]))
            out.append(
                f"{draw(BLANK)}{key}{draw(BLANK)}={draw(BLANK)}{shown}{draw(BLANK)}"
                f"{comment}{draw(EOL)}"
            )
            if draw(st.booleans()):
                out.append(draw(st.sampled_from(["\n", "\r\n", "   \n", "#\n"])))
    return "".join(out), model


@FAST
@given(configs())
def test_generated_configs_round_trip_and_read_as_generated(
    generated: tuple[str, dict[str, dict[str, str]]],
) -> None:
    text, model = generated
    doc = ConfigDocument.parse(text.encode(), "g.conf")
    assert doc.to_bytes() == text.encode()
    assert doc.diagnostics == ()
    read = {n: {k: e.value for k, e in s.entries.items()} for n, s in doc.sections.items()}
    assert read == model


@FAST
@given(configs(), VALUE)
def test_set_value_changes_one_value_and_nothing_else(
    generated: tuple[str, dict[str, dict[str, str]]], value: str
) -> None:
    text, model = generated
    section = next(iter(model))
    key = next(iter(model[section]), "NewKey")
    doc = ConfigDocument.parse(text).set_value(section, key, value)
    model[section][key] = value
    read = {n: {k: e.value for k, e in s.entries.items()} for n, s in doc.sections.items()}
    assert read == model and doc.diagnostics == ()
