"""Every import in the code keeps to the layer table of docs/design.md#layers.

The table is read from the document itself, so the document and the code cannot drift
apart. The checker walks ``qathw/``, ``fakedev/``, ``vm/``, ``demo/`` and ``benchmarks/``
as they are when the test runs (modules come and go; nothing here lists them) and parses
each module with :mod:`ast`.

What counts as an import (as docs/design.md#layers says):

* every ``import`` / ``from ... import`` statement, at module level or inside a function
  or class, and under ``if TYPE_CHECKING:`` too: a type named in a signature is part of the
  interface one layer offers another, so type-only imports follow the same table;
* ``from pkg import name`` imports ``pkg.name`` when that is a module, else ``pkg``;
* importing ``a.b.c`` runs ``a/__init__`` and ``a/b/__init__`` first, so what those import
  at import time (module level, outside ``TYPE_CHECKING``) is imported by every user of
  ``a.b.c`` and must be allowed for that user's layer too.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DESIGN = ROOT / "docs" / "design.md"
CHECKED = ("qathw", "fakedev", "vm", "demo", "benchmarks")
PROJECT = (*CHECKED, "tests")  # an import of tests/ from checked code is in no layer
WHERE = "docs/design.md#layers"
NONE_MARKS = {"—", "-", ""}


# --- the table ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Layer:
    name: str
    patterns: tuple[str, ...]
    may_import: frozenset[str]


@dataclass(frozen=True)
class LayerTable:
    """The rows of the layer table, bottom to top."""

    layers: tuple[Layer, ...]

    def get(self, name: str) -> Layer:
        return next(layer for layer in self.layers if layer.name == name)

    def layer_of(self, module: str) -> str | None:
        """The layer of the most specific pattern matching ``module``, or ``None``."""
        best: tuple[int, int] | None = None
        found: str | None = None
        for layer in self.layers:
            for pattern in layer.patterns:
                if pattern.endswith(".*"):
                    base = pattern[:-2]
                    score = (base.count(".") + 1, 0) if module.startswith(base + ".") else None
                else:
                    score = (pattern.count(".") + 1, 1) if module == pattern else None
                if score is not None and (best is None or score > best):
                    best, found = score, layer.name
        return found

    def allows(self, importer: str, imported: str) -> bool:
        return importer == imported or imported in self.get(importer).may_import


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def parse_layer_table(markdown: str) -> LayerTable:
    """The table under the ``## Layers`` heading whose columns are layer, modules, may import.

    Raises:
        ValueError: no such table, a malformed row, a repeated layer, or a ``may import``
            cell naming a layer the table does not have.
    """
    section = re.split(r"^## Layers[ \t]*$", markdown, maxsplit=1, flags=re.M)
    if len(section) != 2:
        raise ValueError("docs/design.md has no '## Layers' heading")
    body = re.split(r"^## ", section[1], maxsplit=1, flags=re.M)[0]
    lines = body.splitlines()
    start = next(
        (i for i, ln in enumerate(lines) if _cells(ln)[:3] == ["layer", "modules", "may import"]),
        None,
    )
    if start is None:
        raise ValueError("the Layers section has no '| layer | modules | may import |' table")
    layers: list[Layer] = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = _cells(line)
        if len(cells) != 3:
            raise ValueError(f"a layer row needs three cells: {line!r}")
        name, modules, may = (c.replace("`", "").strip() for c in cells)
        patterns = tuple(p.strip() for p in modules.split(",") if p.strip())
        allowed = frozenset(
            n.strip() for n in may.split(",") if n.strip() and n.strip() not in NONE_MARKS
        )
        if not name or not patterns:
            raise ValueError(f"a layer row needs a name and modules: {line!r}")
        if any(layer.name == name for layer in layers):
            raise ValueError(f"layer {name!r} appears twice")
        layers.append(Layer(name, patterns, allowed))
    names = {layer.name for layer in layers}
    for layer in layers:
        unknown = sorted(layer.may_import - names)
        if unknown:
            raise ValueError(f"layer {layer.name!r} may import unknown layers {unknown}")
    return LayerTable(tuple(layers))


# --- the code -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    text: str
    is_package: bool = False


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    line: int
    at_import_time: bool  # module level (or class body) and not under TYPE_CHECKING


def project_sources(root: Path = ROOT) -> dict[str, Source]:
    """Every module under the checked folders, by dotted name."""
    sources: dict[str, Source] = {}
    for top in CHECKED:
        for path in sorted((root / top).rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            parts = list(path.relative_to(root).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            if is_package:
                parts.pop()
            sources[".".join(parts)] = Source(path.read_text(encoding="utf-8"), is_package)
    return sources


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


class _ImportFinder(ast.NodeVisitor):
    def __init__(self, module: str, is_package: bool, known: frozenset[str]) -> None:
        self.module = module
        self.package = module if is_package else module.rpartition(".")[0]
        self.known = known
        self.found: list[Import] = []
        self._deferred = 0  # depth inside functions and TYPE_CHECKING blocks

    def _add(self, imported: str, node: ast.stmt) -> None:
        if imported.split(".")[0] in PROJECT:
            self.found.append(Import(self.module, imported, node.lineno, self._deferred == 0))

    def _deferred_visit(self, nodes: list[ast.stmt]) -> None:
        self._deferred += 1
        for child in nodes:
            self.visit(child)
        self._deferred -= 1

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        for deco in node.decorator_list:
            self.visit(deco)
        self._deferred_visit(node.body)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        for deco in node.decorator_list:
            self.visit(deco)
        self._deferred_visit(node.body)

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test):
            self._deferred_visit(node.body)
            for child in node.orelse:
                self.visit(child)
        else:
            self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            base = self.package.split(".") if self.package else []
            base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
            target = ".".join([*base, *([node.module] if node.module else [])])
        else:
            target = node.module or ""
        for alias in node.names:
            candidate = f"{target}.{alias.name}" if target else alias.name
            self._add(candidate if candidate in self.known else target, node)


def imports_of(module: str, source: Source, known: frozenset[str]) -> list[Import]:
    """The project imports of ``module``, each once per statement and name."""
    finder = _ImportFinder(module, source.is_package, known)
    finder.visit(ast.parse(source.text, filename=module))
    return finder.found


# --- the checks ---------------------------------------------------------------------------


def _message(importer: str, imported: str, layer_a: str, layer_b: str, via: str = "") -> str:
    return (
        f"module {importer} imports {imported}{via}, but layer {layer_a} "
        f"may not import layer {layer_b} ({WHERE})"
    )


def unplaced_modules(table: LayerTable, sources: Mapping[str, Source]) -> list[str]:
    """One message per checked module that no row of the table claims."""
    return [
        f"module {m} is in no layer; add it to the table ({WHERE})"
        for m in sorted(sources)
        if table.layer_of(m) is None
    ]


def edge_violations(table: LayerTable, sources: Mapping[str, Source]) -> list[str]:
    """One message per import statement (and name) that the table does not allow."""
    known = frozenset(sources)
    out: list[str] = []
    for module in sorted(sources):
        layer_a = table.layer_of(module)
        if layer_a is None:
            continue
        statements = {(i.imported, i.line): i for i in imports_of(module, sources[module], known)}
        for imp in statements.values():
            layer_b = table.layer_of(imp.imported)
            if layer_b is None:
                out.append(
                    f"module {module} imports {imp.imported} (line {imp.line}), "
                    f"which is in no layer ({WHERE})"
                )
            elif not table.allows(layer_a, layer_b):
                out.append(_message(module, imp.imported, layer_a, layer_b, f" (line {imp.line})"))
    return out


def _ancestors(module: str) -> Iterator[str]:
    parts = module.split(".")
    for i in range(1, len(parts)):
        yield ".".join(parts[:i])


def package_init_violations(table: LayerTable, sources: Mapping[str, Source]) -> list[str]:
    """Imports a module makes without naming them: those its packages' ``__init__`` make.

    A module runs the ``__init__`` of its own packages and of the packages of everything it
    imports. Whatever those import at import time must be allowed for the module's layer.
    One message per (package, imported module, importer layer).
    """
    known = frozenset(sources)
    eager: dict[str, list[str]] = {
        name: [i.imported for i in imports_of(name, src, known) if i.at_import_time]
        for name, src in sources.items()
        if src.is_package
    }
    out: list[str] = []
    seen: set[tuple[str, str, str]] = set()
    for module in sorted(sources):
        layer_a = table.layer_of(module)
        if layer_a is None:
            continue
        targets = [module] + [i.imported for i in imports_of(module, sources[module], known)]
        packages = {pkg for t in targets for pkg in _ancestors(t)}
        for pkg in sorted(packages):
            for imported in eager.get(pkg, []):
                layer_b = table.layer_of(imported)
                key = (pkg, imported, layer_a)
                if layer_b is None or table.allows(layer_a, layer_b) or key in seen:
                    continue
                seen.add(key)
                via = f" (through {pkg.replace('.', '/')}/__init__.py)"
                out.append(_message(module, imported, layer_a, layer_b, via))
    return out


def _reaches(table: LayerTable, start: str, goal: str) -> bool:
    todo, seen = [start], set()
    while todo:
        name = todo.pop()
        for nxt in table.get(name).may_import:
            if nxt == goal:
                return True
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return False


# --- the tree against the table -----------------------------------------------------------


@pytest.fixture(scope="module")
def table() -> LayerTable:
    return parse_layer_table(DESIGN.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def tree() -> dict[str, Source]:
    return project_sources()


def test_the_checked_folders_hold_modules(tree: dict[str, Source]) -> None:
    assert {name.split(".")[0] for name in tree} == set(CHECKED)


def test_every_module_belongs_to_a_layer(table: LayerTable, tree: dict[str, Source]) -> None:
    assert unplaced_modules(table, tree) == []


def test_every_import_is_one_the_layer_table_allows(
    table: LayerTable, tree: dict[str, Source]
) -> None:
    assert edge_violations(table, tree) == []


def test_package_inits_import_only_what_their_importers_may(
    table: LayerTable, tree: dict[str, Source]
) -> None:
    assert package_init_violations(table, tree) == []


# --- the table against the rules of the house ---------------------------------------------


def test_no_qathw_layer_may_import_fakedev_vm_demo_or_benchmarks(table: LayerTable) -> None:
    outside = {"fakedev", "vm", "demo", "benchmarks"}
    qathw_layers = [
        layer for layer in table.layers if all(p.startswith("qathw") for p in layer.patterns)
    ]
    assert qathw_layers
    assert {layer.name: sorted(layer.may_import & outside) for layer in qathw_layers} == {
        layer.name: [] for layer in qathw_layers
    }


def test_fakedev_may_import_only_the_pure_layers_and_the_seam(table: LayerTable) -> None:
    assert table.get("fakedev").may_import <= {"core", "fw", "layouts", "seam"}


def test_the_pure_layers_import_only_pure_layers(table: LayerTable) -> None:
    pure = {"core", "fw", "layouts"}
    assert {name: table.get(name).may_import - pure for name in pure} == {n: set() for n in pure}


def test_no_layer_can_reach_itself_through_the_table(table: LayerTable) -> None:
    assert [layer.name for layer in table.layers if _reaches(table, layer.name, layer.name)] == []


# --- the checker itself, on modules written here --------------------------------------------


def _sources(**modules: str) -> dict[str, Source]:
    """Synthetic modules: keyword ``a__b__init`` is package ``a.b``, ``a__b`` module ``a.b``."""
    out: dict[str, Source] = {}
    for key, text in modules.items():
        is_package = key.endswith("__init")
        name = key.removesuffix("__init").rstrip("_").replace("__", ".")
        out[name] = Source(text, is_package)
    return out


def test_a_forbidden_edge_is_reported_in_the_words_of_the_rule(table: LayerTable) -> None:
    src = _sources(
        qathw__fw__common="import ctypes\nfrom qathw.transport.ring import RingPair\n",
        qathw__transport__ring="",
    )
    assert edge_violations(table, src) == [
        "module qathw.fw.common imports qathw.transport.ring (line 2), but layer fw may not "
        "import layer transport (docs/design.md#layers)"
    ]


def test_an_allowed_edge_is_not_reported(table: LayerTable) -> None:
    src = _sources(
        qathw__transport__ring="from qathw.fw.common import RING_EMPTY_SIG\n",
        qathw__fw__common="",
    )
    assert edge_violations(table, src) == []


def test_an_import_inside_a_function_counts(table: LayerTable) -> None:
    src = _sources(
        qathw__ids="def later() -> None:\n    import qathw.service.instance\n",
        qathw__service__instance="",
    )
    assert edge_violations(table, src) == [
        "module qathw.ids imports qathw.service.instance (line 2), but layer core may not "
        "import layer service (docs/design.md#layers)"
    ]


def test_an_import_under_type_checking_counts(table: LayerTable) -> None:
    src = _sources(
        qathw__sha=(
            "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n"
            "    from qathw.endpoint import Endpoint\n"
        ),
        qathw__endpoint="",
    )
    assert edge_violations(table, src) == [
        "module qathw.sha imports qathw.endpoint (line 3), but layer core may not "
        "import layer transport (docs/design.md#layers)"
    ]


def test_a_relative_import_is_resolved_before_it_is_judged(table: LayerTable) -> None:
    src = _sources(
        qathw__config__values="from ..sections import user_start\n",
        qathw__sections="",
    )
    assert edge_violations(table, src) == [
        "module qathw.config.values imports qathw.sections (line 1), but layer config may "
        "not import layer sections (docs/design.md#layers)"
    ]


def test_importing_a_submodule_by_from_names_the_submodule(table: LayerTable) -> None:
    src = _sources(
        fakedev__rings="from qathw.transport import csr\nfrom qathw.transport import ring\n",
        qathw__transport__init="",
        qathw__transport__csr="",
        qathw__transport__ring="",
    )
    assert edge_violations(table, src) == [
        "module fakedev.rings imports qathw.transport.ring (line 2), but layer fakedev may "
        "not import layer transport (docs/design.md#layers)"
    ]


def test_qathw_importing_fakedev_is_reported(table: LayerTable) -> None:
    src = _sources(qathw__endpoint="import fakedev.device\n", fakedev__device="")
    assert edge_violations(table, src) == [
        "module qathw.endpoint imports fakedev.device (line 1), but layer transport may "
        "not import layer fakedev (docs/design.md#layers)"
    ]


def test_an_import_of_a_module_outside_every_layer_is_reported(table: LayerTable) -> None:
    src = _sources(qathw__ids="from tests.service import rig\n")
    assert edge_violations(table, src) == [
        "module qathw.ids imports tests.service (line 1), which is in no layer "
        "(docs/design.md#layers)"
    ]


def test_a_module_no_row_claims_is_reported(table: LayerTable) -> None:
    src = _sources(qathw__gadget="", qathw__ids="")
    assert unplaced_modules(table, src) == [
        "module qathw.gadget is in no layer; add it to the table (docs/design.md#layers)"
    ]


def test_a_package_init_is_charged_to_every_module_that_runs_it(table: LayerTable) -> None:
    src = _sources(
        qathw__init="from qathw.sections import user_start\n",
        qathw__sections="",
        qathw__ids="",
        fakedev__csr="from qathw import ids\n",
    )
    assert package_init_violations(table, src) == [
        "module fakedev.csr imports qathw.sections (through qathw/__init__.py), but layer "
        "fakedev may not import layer sections (docs/design.md#layers)",
        "module qathw.ids imports qathw.sections (through qathw/__init__.py), but layer "
        "core may not import layer sections (docs/design.md#layers)",
    ]


def test_a_lazy_import_in_a_package_init_is_not_charged_to_its_importers(
    table: LayerTable,
) -> None:
    src = _sources(
        qathw__init="def __getattr__(name: str) -> object:\n    import qathw.sections\n"
        "    return qathw.sections\n",
        qathw__sections="",
        qathw__ids="",
    )
    assert package_init_violations(table, src) == []


def test_a_table_naming_an_unknown_layer_is_refused() -> None:
    text = (
        "## Layers\n\n| layer | modules | may import |\n|---|---|---|\n"
        "| core | `qathw.ids` | — |\n| fw | `qathw.fw.*` | core, kernel |\n"
    )
    with pytest.raises(ValueError, match=r"layer 'fw' may import unknown layers \['kernel'\]"):
        parse_layer_table(text)


def test_the_most_specific_pattern_decides_a_module_s_layer(table: LayerTable) -> None:
    assert [
        table.layer_of(m)
        for m in ("qathw.transport.csr", "qathw.transport.ring", "qathw.transport", "qathw")
    ] == ["layouts", "transport", "transport", "facade"]
