"""A lossless model of one out-of-tree driver configuration file.

Two views of the same bytes:

* the **physical** view keeps every byte — line endings (LF, CRLF, none at the end),
  tabs, comments, quoting — so an unmodified document serialises back byte-identical
  (:meth:`ConfigDocument.to_bytes`);
* the **interpreted** view is what ``adf_ctl`` hands to the kernel: sections of keys and
  values after its lexical rules (docs/hardware.md#config-files, ``ini_config.cpp``).

The interpretation follows ``adf_ctl`` of QAT.L.4.24 and QAT20 (leading spaces and tabs
trimmed; spaces, tabs and ``\\r`` removed from names, keys and values). Where the older
QAT1.7.L.4.8 ``adf_ctl`` reads a line differently (it keeps tabs and does not trim a
line's start), the line gets an R12 warning that says how.

Rules of the interpretation, line by line (split at ``\\n`` only, as ``getline`` does):

1. a line that is empty after its leading blanks, or starts with ``#`` or ``\\r``, is skipped;
2. comments run from the first ``#`` to the end of the line — inside quotes too;
3. a line starting with ``[`` is a header; the name ends at the first ``]``;
4. anything else splits at the first ``=`` (a line without ``=`` becomes key = value with
   the whole line as both, as ``adf_ctl`` does); an empty key or value drops the line;
5. a value that starts and ends with ``"`` loses that pair of quotes;
6. a repeated header continues the first section; a repeated key is ignored (first wins).
"""

from __future__ import annotations

import enum
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from qathw.config.diagnostics import Diagnostic, Severity
from qathw.errors import ConfigError
from qathw.sysfsio import read_regular

#: ``ADF_CFG_MAX_STR_LEN``: names, keys and values must be shorter than this many bytes.
MAX_STR_LEN = 128
#: The largest configuration file read (16 MiB): a file with every section a device
#: allows is far smaller; the cap only keeps a wrong path from filling memory.
CONFIG_FILE_MAX = 16 << 20

_REMOVED = str.maketrans("", "", " \t\r")  # what QAT.L.4.24 / QAT20 adf_ctl strip
_REMOVED_48 = str.maketrans("", "", " \r")  # QAT1.7.L.4.8 keeps tabs


class LineKind(enum.Enum):
    """What one physical line is to ``adf_ctl``."""

    BLANK = "blank"
    COMMENT = "comment"
    SECTION = "section"
    ENTRY = "entry"
    IGNORED = "ignored"  # adf_ctl warns and skips it (or it has no section to go to)


@dataclass(frozen=True)
class Line:
    """One physical line.

    Attributes:
        number: 1-based line number.
        text: the line without its ``\\n`` (a CRLF line keeps its ``\\r``).
        eol: ``"\\n"``, or ``""`` for a last line without one.
        kind: how ``adf_ctl`` reads it.
    """

    number: int
    text: str
    eol: str
    kind: LineKind


@dataclass(frozen=True)
class Entry:
    """One key = value as the driver receives it.

    Attributes:
        key / value: after comment, whitespace and quote removal.
        line: the line it came from.
        column / value_column: 1-based columns of the key and of the value text.
        quoted: the value was written in double quotes.
    """

    key: str
    value: str
    line: int
    column: int
    value_column: int
    quoted: bool = False


@dataclass(frozen=True)
class Section:
    """One section as the driver receives it (repeated headers merged, first key wins).

    Attributes:
        name: the section name.
        line / column: where its first header is.
        entries: key → entry, in the order the keys first appear.
    """

    name: str
    line: int
    column: int
    entries: Mapping[str, Entry]

    def get(self, key: str) -> str | None:
        """The value of ``key``, or ``None`` when the section does not set it."""
        entry = self.entries.get(key)
        return entry.value if entry is not None else None

    def __contains__(self, key: object) -> bool:
        return key in self.entries

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries.values())


def _sanitize(text: str) -> str:
    """``utils::sanitize_string`` of QAT.L.4.24: cut at ``#``, drop spaces, tabs, CRs."""
    return text.split("#", 1)[0].translate(_REMOVED)


def _sanitize_48(text: str) -> str:
    return text.split("#", 1)[0].translate(_REMOVED_48)


def _unquote(value: str) -> tuple[str, bool]:
    if value[:1] == '"' and value[-1:] == '"':
        return value[1:-1], True
    return value, False


def _byte_len(text: str) -> int:
    return len(text.encode("utf-8", "surrogateescape"))


def _read_48(text: str) -> tuple[str, str, str] | None:
    """How QAT1.7.L.4.8 ``adf_ctl`` reads a line: (kind, name-or-key, value) or None."""
    if not text or text[0] in "#\r":
        return None
    if text[0] == "[":
        san = _sanitize_48(text)
        end = san.find("]")
        return ("section", _sanitize_48(san[1:end]) if end != -1 else "", "")
    pos = text.find("=")
    key_raw, val_raw = (text, text) if pos == -1 else (text[:pos], text[pos + 1 :])
    value, _ = _unquote(_sanitize_48(val_raw))
    return ("entry", _sanitize_48(key_raw), value)


def _first_text_column(line: str, start: int, stop: int) -> int:
    """1-based column of the first non-blank character of ``line[start:stop]``."""
    for i in range(start, stop):
        if line[i] not in " \t\r":
            return i + 1
    return start + 1


@dataclass
class _Parser:
    path: str | None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    sections: dict[str, dict[str, Entry]] = field(default_factory=dict)
    headers: dict[str, tuple[int, int]] = field(default_factory=dict)
    current: str | None = None

    def diag(
        self,
        rule: str,
        severity: Severity,
        message: str,
        hint: str | None,
        line: int,
        column: int | None = None,
    ) -> None:
        self.diagnostics.append(Diagnostic(rule, severity, message, hint, self.path, line, column))

    def check_length(self, what: str, text: str, line: int, column: int) -> None:
        n = _byte_len(text)
        if n >= MAX_STR_LEN:
            self.diag(
                "R11",
                Severity.ERROR,
                f"{what} is {n} bytes long; adf_ctl refuses the file "
                f"('entry too long. Maximum allowed: {MAX_STR_LEN}')",
                f"shorten it to at most {MAX_STR_LEN - 1} bytes",
                line,
                column,
            )

    def check_inner_blanks(self, what: str, raw: str, cleaned: str, line: int, col: int) -> None:
        inner = raw.strip(" \t\r")
        if inner != cleaned and any(c in inner for c in " \t"):
            self.diag(
                "R12",
                Severity.WARNING,
                f"{what} {inner!r} contains blanks; the driver removes them and reads {cleaned!r}",
                "write it without spaces or tabs",
                line,
                col,
            )

    def line(self, number: int, text: str) -> LineKind:
        if "\x00" in text:
            self.diag(
                "P5",
                Severity.WARNING,
                "line contains a NUL byte; adf_ctl's C strings end there",
                "remove the NUL byte",
                number,
                text.index("\x00") + 1,
            )
        lead = len(text) - len(text.lstrip(" \t"))
        body = text[lead:]
        kind: LineKind
        if not body or body[0] in "#\r":
            kind = LineKind.COMMENT if body[:1] == "#" else LineKind.BLANK
            got = None
        elif body[0] == "[":
            kind = self.header(number, text, lead, body)
            got = ("section", self.current or "", "") if kind is LineKind.SECTION else None
        else:
            kind, got = self.entry(number, text, lead, body)
        self.compare_48(number, text, kind, got)
        return kind

    def header(self, number: int, text: str, lead: int, body: str) -> LineKind:
        san = _sanitize(body)
        end = san.find("]")
        name = san[1:end] if end != -1 else ""
        column = lead + 1
        if not name:
            where = (
                f"the keys below it go into [{self.current}]"
                if self.current
                else "the keys below it belong to no section"
            )
            self.diag(
                "P1",
                Severity.WARNING,
                f"wrong section format: {text.strip()!r} (adf_ctl warns and ignores it; {where})",
                "write the header as [NAME]",
                number,
                column,
            )
            return LineKind.IGNORED
        if san[end + 1 :]:
            self.diag(
                "P1",
                Severity.WARNING,
                f"text after ']' in the header is ignored: {san[end + 1 :]!r}",
                "put comments after a '#'",
                number,
                column,
            )
        raw_name = body.split("#", 1)[0]
        raw_name = raw_name[1 : raw_name.find("]")] if "]" in raw_name else raw_name[1:]
        self.check_inner_blanks("section name", raw_name, name, number, column + 1)
        self.check_length(f"section name [{name}]", name, number, column + 1)
        if name in self.sections:
            first_line, _ = self.headers[name]
            self.diag(
                "R12",
                Severity.WARNING,
                f"[{name}] appears again; the driver merges it into the first one "
                f"(line {first_line}), where earlier keys win",
                "keep one header per section",
                number,
                column,
            )
        else:
            self.sections[name] = {}
            self.headers[name] = (number, column)
        self.current = name
        return LineKind.SECTION

    def entry(
        self, number: int, text: str, lead: int, body: str
    ) -> tuple[LineKind, tuple[str, str, str] | None]:
        pos = body.find("=")
        hash_pos = body.find("#")
        if pos == -1:
            key_raw, val_raw = body, body
            key = _sanitize(key_raw)
            if key:
                self.diag(
                    "P3",
                    Severity.WARNING,
                    f"line has no '='; adf_ctl stores it as key {key!r} with value {key!r}",
                    "write KEY = VALUE, or comment the line out with '#'",
                    number,
                    lead + 1,
                )
        else:
            key_raw, val_raw = body[:pos], body[pos + 1 :]
            if hash_pos != -1 and hash_pos < pos:
                self.diag(
                    "P4",
                    Severity.WARNING,
                    "the first '=' comes after a '#'; adf_ctl still splits the line there and "
                    f"reads key {_sanitize(key_raw)!r} = {_sanitize(val_raw)!r}",
                    "start a comment line with '#' at its beginning",
                    number,
                    lead + pos + 1,
                )
        key = _sanitize(key_raw)
        value, quoted = _unquote(_sanitize(val_raw))
        key_col = _first_text_column(text, lead, lead + len(key_raw))
        val_start = lead if pos == -1 else lead + pos + 1
        val_col = _first_text_column(text, val_start, len(text))
        if not key or not value:
            self.diag(
                "P2",
                Severity.WARNING,
                f"wrong key-value format: {text.strip()!r} has an empty "
                f"{'key' if not key else 'value'}; adf_ctl warns and ignores the line",
                "write KEY = VALUE with both parts non-empty",
                number,
                key_col,
            )
            return LineKind.IGNORED, None
        self.check_quotes(number, val_raw, value, val_col)
        if pos != -1:
            self.check_inner_blanks("key", key_raw.split("#", 1)[0], key, number, key_col)
            raw_value = val_raw.split("#", 1)[0].strip(" \t\r")
            raw_value = raw_value[1:-1] if quoted and len(raw_value) >= 2 else raw_value
            self.check_inner_blanks("value", raw_value, value, number, val_col)
        self.check_length(f"key {key!r}", key, number, key_col)
        self.check_length(f"value of {key}", value, number, val_col)
        if self.current is None:
            self.diag(
                "R12",
                Severity.ERROR,
                f"key {key!r} comes before any [SECTION] header; adf_ctl has no section to "
                "put it in (it dereferences a null section and crashes)",
                "add a section header such as [GENERAL] above it",
                number,
                key_col,
            )
            return LineKind.IGNORED, ("entry", key, value)
        entries = self.sections[self.current]
        new = Entry(key, value, number, key_col, val_col, quoted)
        if key in entries:
            first = entries[key]
            same = first.value == value
            self.diag(
                "R12",
                Severity.INFO if same else Severity.WARNING,
                f"{key} is set again in [{self.current}]"
                + (
                    " to the same value"
                    if same
                    else f"; the first value {first.value!r} (line {first.line}) wins "
                    f"and {value!r} is ignored"
                ),
                "remove the repeated line",
                number,
                key_col,
            )
        else:
            entries[key] = new
        return LineKind.ENTRY, ("entry", key, value)

    def check_quotes(self, number: int, val_raw: str, value: str, col: int) -> None:
        stripped = val_raw.lstrip(" \t")
        if stripped[:1] == '"' and "#" in stripped:
            before_hash = stripped.split("#", 1)[0]
            if before_hash.count('"') == 1:
                self.diag(
                    "R12",
                    Severity.WARNING,
                    f"'#' inside a quoted value starts a comment; the driver reads {value!r}",
                    "do not use '#' in values",
                    number,
                    col,
                )

    def compare_48(
        self, number: int, text: str, kind: LineKind, got: tuple[str, str, str] | None
    ) -> None:
        old = _read_48(text)
        if old is not None and old[0] == "entry" and (not old[1] or not old[2]):
            old = None  # 4.8 warns and ignores the line, as 4.24 skips it
        if old is not None and old[0] == "section" and not old[1]:
            old = None
        if kind is LineKind.SECTION and old is not None and old[0] == "section":
            old = (old[0], old[1], "")
        if old == got:
            return
        if old is None:
            reading = "skips the line"
        elif old[0] == "section":
            reading = f"reads it as section [{old[1]}]"
        else:
            reading = f"reads it as {old[1]!r} = {old[2]!r}"
        self.diag(
            "R12",
            Severity.WARNING,
            f"QAT1.7.L.4.8's adf_ctl keeps tabs and does not trim a line's start: it {reading}"
            " (QAT.L.4.24 and QAT20, which qathw follows, read the line differently)",
            "use spaces, not tabs, and start keys and headers in column 1",
            number,
            1,
        )


def _split_lines(text: str) -> list[tuple[str, str]]:
    """Split at ``\\n`` only (as ``getline``), keeping each line's ending."""
    out: list[tuple[str, str]] = []
    start = 0
    while start < len(text):
        end = text.find("\n", start)
        if end == -1:
            out.append((text[start:], ""))
            break
        out.append((text[start:end], "\n"))
        start = end + 1
    return out


class ConfigDocument:
    """One configuration file: its exact bytes and the driver's reading of them.

    Build one with :meth:`parse` or :meth:`read`; parsing never raises on bad content,
    it reports :attr:`diagnostics` (``P*``, ``R11``, ``R12``).
    """

    def __init__(
        self,
        path: str | None,
        lines: tuple[Line, ...],
        sections: dict[str, Section],
        diagnostics: tuple[Diagnostic, ...],
    ) -> None:
        self.path = path
        self.lines = lines
        self.sections: Mapping[str, Section] = MappingProxyType(sections)
        self.diagnostics = diagnostics

    @classmethod
    def parse(cls, data: bytes | str, path: str | os.PathLike[str] | None = None) -> ConfigDocument:
        """Read configuration text.

        Args:
            data: the file's bytes (or text already decoded).
            path: the file name used in diagnostics.

        Returns:
            The document; it never raises on bad content.
        """
        where = os.fspath(path) if path is not None else None
        extra: list[Diagnostic] = []
        if isinstance(data, bytes):
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                text = data.decode("utf-8", "surrogateescape")
                line = data.count(b"\n", 0, exc.start) + 1
                extra.append(
                    Diagnostic(
                        "P5",
                        Severity.WARNING,
                        f"byte 0x{data[exc.start]:02x} at offset {exc.start} is not UTF-8; "
                        "it is kept as is",
                        "save the file as ASCII or UTF-8",
                        where,
                        line,
                    )
                )
        else:
            text = data
        parser = _Parser(where)
        lines = tuple(
            Line(n, body, eol, parser.line(n, body))
            for n, (body, eol) in enumerate(_split_lines(text), start=1)
        )
        sections = {
            name: Section(name, *parser.headers[name], MappingProxyType(entries))
            for name, entries in parser.sections.items()
        }
        return cls(where, lines, sections, tuple(extra + parser.diagnostics))

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> ConfigDocument:
        """Read and parse a file.

        Raises:
            ConfigError: the file cannot be read (with errno and path), is not a regular
                file (a device, a FIFO) or holds more than :data:`CONFIG_FILE_MAX` bytes.
        """
        try:
            data = read_regular(
                path,
                CONFIG_FILE_MAX,
                what="a configuration file",
                hint=f"a configuration file is a regular file of at most {CONFIG_FILE_MAX >> 20} "
                "MiB; replace or remove this one, or name the file itself",
                error=ConfigError,
            )
        except OSError as exc:
            raise ConfigError.from_oserror(
                exc, f"cannot read {os.fspath(path)}", hint="check the path and permissions"
            ) from exc
        return cls.parse(data, path)

    def to_text(self) -> str:
        """The document's text, exactly as read (or as edited)."""
        return "".join(line.text + line.eol for line in self.lines)

    def to_bytes(self) -> bytes:
        """The document's bytes: byte-identical to the input for an unmodified document."""
        return self.to_text().encode("utf-8", "surrogateescape")

    def section(self, name: str) -> Section | None:
        """The section ``name`` (case-sensitive, as the driver), or ``None``."""
        return self.sections.get(name)

    def set_value(self, section: str, key: str, value: str) -> ConfigDocument:
        """A copy with ``key = value`` set in ``section``; every other byte is kept.

        An existing key keeps its line's layout, quoting and comment; a new key is added
        after the section's last key; a new section is appended at the end.

        Args:
            section: section name.
            key: key name.
            value: the new value (no blanks, ``#`` or line breaks: the driver would not
                read them back).

        Returns:
            The edited document.

        Raises:
            ValueError: a name or value the driver could not read back.
        """
        for what, text in (("section", section), ("key", key), ("value", value)):
            bad = r"[\s#]" if what == "value" else r"[\s#=\[\]]"
            if (
                not text
                or re.search(bad, text)
                or _byte_len(text) >= MAX_STR_LEN
                or (what == "value" and _unquote(text)[1])
            ):
                raise ValueError(f"{what} {text!r} cannot be written so that adf_ctl reads it")
        eol = "\r\n" if any(line.text.endswith("\r") for line in self.lines) else "\n"
        texts = [line.text + line.eol for line in self.lines]
        sec = self.sections.get(section)
        entry = sec.entries.get(key) if sec is not None else None
        if entry is not None:
            old = self.lines[entry.line - 1]
            start = entry.value_column - 1
            body = old.text
            comment_at = body.find("#", start)
            stop = comment_at if comment_at != -1 else len(body)
            token = body[start:stop].rstrip(" \t\r")
            new_token = f'"{value}"' if entry.quoted else value
            texts[entry.line - 1] = body[:start] + new_token + body[start + len(token) :] + old.eol
        elif sec is not None:
            last = max([sec.line, *(e.line for e in sec.entries.values())])
            if not texts[last - 1].endswith("\n"):
                texts[last - 1] += eol
            texts.insert(last, f"{key} = {value}{eol}")
        else:
            if texts and not texts[-1].endswith("\n"):
                texts[-1] += eol
            texts.append(f"{eol}[{section}]{eol}{key} = {value}{eol}")
        return ConfigDocument.parse("".join(texts), self.path)
