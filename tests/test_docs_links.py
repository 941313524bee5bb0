"""Every citation of the docs resolves, and no file points outside the repository.

Code, tests, the README and the docs cite design and hardware facts as
``docs/<page>.md#<anchor>``; more anchors of the same page may follow it, as in
``docs/hardware.md#ring-csrs, #ring-config and #interrupts``. Each must name a page in
``docs/`` and a heading of that page, turned into an anchor the way GitHub does it. Links
inside the docs (``[text](#anchor)``, ``[text](design.md#anchor)``) are held to the same rule.

The notes the project started from are not part of a clone, so nothing may cite them: not
by their file names, not as "reference" and a section sign, not by a bare section sign (a
standard's section, such as FIPS-197's 5.2, may be cited with one), and not by a path into
the ``shared`` folder next to the checkout (the configuration corpus there is test data,
not a citation).

The files are read as they are when the test runs; nothing here lists them.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

SECTION_SIGN = "\u00a7"  # written as an escape, so that this file holds none of its own
#: The old notes by name; built from parts so that this file does not cite them itself.
OLD_NOTES = (
    "qat-" + "wire-format",
    "qat-" + "host-stack",
    "qat-" + "config-semantics",
    "vm-split" + "-driver",
    "style" + "-anchors",
    "DESIGN" + ".md",
)
FORBIDDEN = re.compile(
    "|".join(
        [
            *(re.escape(name) for name in OLD_NOTES),
            rf"(?i:reference)\s*{SECTION_SIGN}",
            r"\.\./shared(?!/qat-conf-corpus)",
            "shared/" + "reference",
        ]
    )
)
#: What may stand before a section sign: a published standard.
STANDARD = re.compile(r"(FIPS[- ]?\d+|SP \d+-\d+\w*|RFC ?\d+)\s*$")

CITATION = re.compile(
    r"docs/(?P<page>[\w-]+)\.md(?:#(?P<anchor>[\w-]+))?"
    r"(?P<more>(?:\s*(?:,|;|:|\(|\band\b)\s*(?:and\s+)?#[A-Za-z][\w-]*)*)"
)
MORE_ANCHOR = re.compile(r"#([A-Za-z][\w-]*)")
DOC_LINK = re.compile(r"\]\((?P<page>[\w-]+\.md)?(?:#(?P<anchor>[\w-]+))?\)")

TEXT_SUFFIXES = {".py", ".md", ".toml", ".sh", ".cfg", ".ini", ".txt", ".yml", ".yaml", ""}
SKIPPED_DIRS = {"__pycache__", "build", "dist"}


def slug(heading: str) -> str:
    """A heading's anchor as GitHub makes it: lower case, punctuation gone, spaces as ``-``."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors_of(markdown: str) -> set[str]:
    """Every heading anchor of a Markdown page (repeated headings get ``-1``, ``-2``...)."""
    found: set[str] = set()
    seen: Counter[str] = Counter()
    fenced = False
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        heading = re.match(r"#{1,6}\s+(.*?)\s*$", line)
        if fenced or heading is None:
            continue
        base = slug(heading.group(1))
        found.add(base if seen[base] == 0 else f"{base}-{seen[base]}")
        seen[base] += 1
    return found


def docs_anchors() -> dict[str, set[str]]:
    """Page name (``hardware``) -> its anchors, for every page in docs/."""
    return {p.stem: anchors_of(p.read_text(encoding="utf-8")) for p in DOCS.glob("*.md")}


def problems(rel: str, text: str, docs: Mapping[str, set[str]]) -> list[str]:
    """What is wrong with the citations in ``text``, the content of the file ``rel``."""
    found = []

    def line_of(pos: int) -> str:
        return f"{rel}:{text.count(chr(10), 0, pos) + 1}"

    def resolve(pos: int, page: str, anchor: str | None) -> None:
        if page not in docs:
            found.append(f"{line_of(pos)}: docs/{page}.md does not exist")
        elif anchor is not None and anchor not in docs[page]:
            found.append(f"{line_of(pos)}: docs/{page}.md has no heading #{anchor}")

    for m in CITATION.finditer(text):
        resolve(m.start(), m["page"], m["anchor"])
        for extra in MORE_ANCHOR.findall(m["more"]):
            resolve(m.start(), m["page"], extra)
    if rel.startswith("docs/") and rel.endswith(".md"):
        here = Path(rel).stem
        for m in DOC_LINK.finditer(text):
            if m["page"] or m["anchor"]:
                page = Path(m["page"]).stem if m["page"] else here
                resolve(m.start(), page, m["anchor"])
    for m in FORBIDDEN.finditer(text):
        found.append(f"{line_of(m.start())}: cites {m.group()!r}, which is not in the repository")
    for m in re.finditer(SECTION_SIGN, text):
        line_start = text.rfind("\n", 0, m.start()) + 1
        if not STANDARD.search(text[line_start : m.start()]):
            found.append(f"{line_of(m.start())}: a section sign that names no standard")
    return found


def repository_files() -> Iterator[tuple[str, str]]:
    """``(path relative to the root, text)`` of every text file of the checkout."""
    for top, dirs, files in os.walk(ROOT):
        # Hidden directories (.git, .venv, caches) are not the project's text, but .ci is.
        dirs[:] = sorted(
            d for d in dirs if (not d.startswith(".") or d == ".ci") and d not in SKIPPED_DIRS
        )
        for name in sorted(files):
            path = Path(top, name)
            rel = path.relative_to(ROOT).as_posix()
            if name.startswith(".") or path.suffix not in TEXT_SUFFIXES:
                continue
            data = path.read_bytes()
            if b"\0" not in data:
                yield rel, data.decode("utf-8", "replace")


@pytest.fixture(scope="module")
def docs() -> dict[str, set[str]]:
    return docs_anchors()


# --- the repository -------------------------------------------------------------------------


def test_every_citation_in_the_repository_resolves_and_none_points_outside(
    docs: dict[str, set[str]],
) -> None:
    found = [p for rel, text in repository_files() for p in problems(rel, text, docs)]
    assert not found, "\n".join(found)


def test_the_walk_sees_code_tests_readme_and_docs() -> None:
    seen = {rel for rel, _ in repository_files()}
    assert {"README.md", "docs/hardware.md", "qathw/ids.py", "tests/test_docs_links.py"} <= seen


# --- the checker, on planted text -----------------------------------------------------------


def test_a_citation_of_an_existing_heading_passes(docs: dict[str, set[str]]) -> None:
    text = "see docs/hardware.md#ring-csrs, #ring-config and #interrupts; docs/design.md#layers"
    assert problems("x.py", text, docs) == []


def test_a_citation_of_a_missing_heading_is_found(docs: dict[str, set[str]]) -> None:
    text = "see docs/hardware.md" + "#no-such-heading"
    assert problems("x.py", text, docs) == [
        "x.py:1: docs/hardware.md has no heading #no-such-heading"
    ]


def test_a_missing_heading_after_a_good_one_is_found(docs: dict[str, set[str]]) -> None:
    text = "see docs/hardware.md#ring-csrs, " + "#nowhere"
    assert problems("x.py", text, docs) == ["x.py:1: docs/hardware.md has no heading #nowhere"]


def test_a_citation_of_a_missing_page_is_found(docs: dict[str, set[str]]) -> None:
    text = "\nsee docs/nowhere" + ".md"
    assert problems("x.py", text, docs) == ["x.py:2: docs/" + "nowhere.md does not exist"]


def test_a_broken_link_inside_the_docs_is_found(docs: dict[str, set[str]]) -> None:
    text = "[ring config](#ring-config), [layers](design.md#layers), [x](#nowhere)"
    assert problems("docs/hardware.md", text, docs) == [
        "docs/hardware.md:1: docs/hardware.md has no heading #nowhere"
    ]


@pytest.mark.parametrize(
    "citation",
    [
        "qat-" + "wire-format.md",
        "see " + "DESIGN" + ".md",
        "(reference " + SECTION_SIGN + "2.3)",
        "Reference " + SECTION_SIGN + "3: GENERAL",
        "../" + "shared/" + "reference/notes.md",
    ],
)
def test_a_citation_of_the_old_notes_is_found(docs: dict[str, set[str]], citation: str) -> None:
    assert problems("x.py", citation, docs)


def test_a_bare_section_sign_is_found(docs: dict[str, set[str]]) -> None:
    assert problems("x.py", "# " + SECTION_SIGN + "4.3: the default map", docs) == [
        "x.py:1: a section sign that names no standard"
    ]


def test_a_section_of_a_standard_and_the_corpus_path_pass(docs: dict[str, set[str]]) -> None:
    text = f"FIPS-197 {SECTION_SIGN}5.2, SP 800-38D {SECTION_SIGN}7.1; ../shared/qat-conf-corpus"
    assert problems("x.py", text, docs) == []


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("adf_ctl status", "adf_ctl-status"),
        ("PF/VF mailbox", "pfvf-mailbox"),
        ("The `vm/` harness", "the-vm-harness"),
        ("qathw — how it is built", "qathw--how-it-is-built"),
    ],
)
def test_headings_become_anchors_as_on_github(heading: str, anchor: str) -> None:
    assert slug(heading) == anchor


def test_a_repeated_heading_gets_a_numbered_anchor() -> None:
    assert anchors_of("## Notes\n## Notes\n```\n# not a heading\n```\n") == {"notes", "notes-1"}
