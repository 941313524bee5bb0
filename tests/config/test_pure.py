"""The configuration layer is data in, data out: it reads its files and no other host state.

Which devices the host has reaches it as ``HostDevice`` facts; so no module of
``qathw/config`` may import what reaches sysfs, devices or the environment's host root.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CONFIG = Path(__file__).resolve().parents[2] / "qathw" / "config"
#: What a config module may import from qathw outside its own package.
ALLOWED = {
    "qathw.ids": None,  # every name: the family tables
    "qathw.errors": None,
    "qathw.paths": {"ENV_CONFIG_DIR"},  # the variable's name, for a hint
    "qathw.sysfsio": {"read_regular"},  # a bounded read of a named file; not the seam
}


def qathw_imports(path: Path) -> list[tuple[str, str | None]]:
    """``(module, name)`` for each qathw import of a module (name ``None``: whole module)."""
    found: list[tuple[str, str | None]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(a.name, None) for a in node.names if a.name.startswith("qathw")]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("qathw"):
            module = node.module or ""
            for a in node.names:
                # `from qathw import paths` imports a module; `from qathw.paths import X` a name.
                submodule = f"{module}.{a.name}"
                file = CONFIG.parents[1] / (submodule.replace(".", "/") + ".py")
                found.append((submodule, None) if file.exists() else (module, a.name))
    return found


@pytest.mark.parametrize("path", sorted(CONFIG.glob("*.py")), ids=lambda p: p.name)
def test_a_config_module_imports_no_host_access(path: Path) -> None:
    for module, name in qathw_imports(path):
        if module.startswith("qathw.config"):
            continue
        assert module in ALLOWED, f"{path.name} imports {module}"
        names = ALLOWED[module]
        assert names is None or name in names, f"{path.name} imports {module} ({name or 'all'})"
