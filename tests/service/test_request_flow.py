"""The request layer's flow goes one way: instance → session → op → work → channel.

Its modules import each other without a cycle (type-only imports included), and a
session needs nothing of an instance: it runs its ops on the channel it was given.
"""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from qathw.service.instance import CyInstance
from qathw.service.sessions import CipherSession

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "qathw.service"
KEY, IV = bytes(range(16)), bytes(range(16, 32))


def _imports(path: Path) -> set[str]:
    """The qathw.service modules ``path`` imports, wherever the import statement stands."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name.startswith(PACKAGE + ".")}


def test_the_request_layer_modules_import_each_other_without_a_cycle() -> None:
    modules = {
        f"{PACKAGE}.{path.stem}": path
        for path in (ROOT / "qathw" / "service").glob("*.py")
        if path.stem != "__init__"
    }
    graph = {name: _imports(path) & modules.keys() for name, path in modules.items()}
    assert graph[f"{PACKAGE}.instance"]  # the walk sees imports at all
    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        raise AssertionError(f"import cycle: {' -> '.join(exc.args[1])}") from None
    assert order.index(f"{PACKAGE}.sessions") < order.index(f"{PACKAGE}.instance")


def test_a_session_made_on_a_channel_runs_its_ops_there_without_an_instance(
    cy: CyInstance,
) -> None:
    channel = cy.channel
    before = channel.completed
    msg = bytes(range(64))
    with CipherSession(channel, "aes-128-cbc", KEY) as s:
        got = s.encrypt(msg, IV)
    enc = Cipher(algorithms.AES(KEY), modes.CBC(IV)).encryptor()
    assert got == enc.update(msg) + enc.finalize()
    assert channel.completed == before + 1
