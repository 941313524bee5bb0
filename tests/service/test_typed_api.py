"""The request layer is typed end to end: what a type checker infers for each call form.

A small application is checked by mypy (as strictly as the project is); each
``reveal_type`` must name the type the call returns at run time. ``Any`` anywhere in
these answers would mean a call form has lost its op's result type.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

api = pytest.importorskip("mypy.api")

ROOT = Path(__file__).resolve().parents[2]
BUF = "qathw.service.buffers.DeviceBuffer"

# (expression, the type mypy must reveal for it); `s` is an aes-128-cbc session.
CASES = [
    ('s.encrypt(b"x" * 16, IV)', "bytes"),
    ("s.encrypt(buf, IV)", BUF),
    ('s.encrypt(b"x" * 16, IV, out=buf)', BUF),
    ("s.encrypt([b'a' * 16, b'b' * 16], IV)", "bytes"),
    ('cy.perform(s.encrypt_op(b"x" * 16, IV))', "bytes"),
    ('cy.submit(s.encrypt_op(b"x" * 16, IV)).result()', "bytes"),
    ('cy.perform_batch([s.encrypt_op(b"x" * 16, IV)])', "list[bytes]"),
    (
        'cy.perform_batch([s.encrypt_op(b"x" * 16, IV)], return_exceptions=True)',
        "list[bytes | BaseException]",
    ),
    ('cy.submit_batch([s.encrypt_op(b"x" * 16, IV)]).result()', "list[bytes]"),
    ('await cy.perform_async(s.encrypt_op(b"x" * 16, IV))', "bytes"),
    ('await cy.perform_batch_async([s.encrypt_op(b"x" * 16, IV)])', "list[bytes]"),
    ('cy.aead("aes-128-gcm", KEY).encrypt(bytes(12), b"x", b"ad")', "bytes"),
    (
        'cy.aead("aes-128-gcm", KEY).decrypt_op(bytes(12), buf)',
        f"qathw.service.operations.AeadOp[{BUF}]",
    ),
    ('cy.aead("aes-128-gcm", KEY).encrypt_many([bytes(12)], [b"x"])', "list[bytes]"),
    (
        'cy.aead("aes-128-gcm", KEY).submit_many([IV[:12]], [b"x"]).result(return_exceptions=True)',
        "list[bytes | BaseException]",
    ),
    ('cy.hash("sha256").digest(b"x")', "bytes"),
    ('cy.hash("sha256").verify(b"x", bytes(32))', "None"),
    (
        'cy.chain("aes-128-cbc", KEY, "sha1").encrypt(b"x" * 16, IV)',
        "qathw.service.results.ChainResult[bytes]",
    ),
    ('dc.compression().compress(b"x")', "qathw.service.results.DcResult[bytes]"),
    (
        'dc.compression().compress(b"x", out=dc.alloc(64))',
        f"qathw.service.results.DcResult[{BUF}]",
    ),
]

PROGRAM = """\
from qathw.service.instance import CyInstance, DcInstance

KEY, IV = bytes(16), bytes(16)


async def main(cy: CyInstance, dc: DcInstance) -> None:
    s = cy.cipher("aes-128-cbc", KEY)
    buf = cy.alloc(64)
{reveals}
"""


def test_every_call_form_returns_its_ops_result_type(tmp_path: Path) -> None:
    reveals = "\n".join(f"    reveal_type({expr})" for expr, _ in CASES)
    program = tmp_path / "app.py"
    program.write_text(PROGRAM.format(reveals=reveals))
    out, err, _ = api.run(
        [
            "--strict",
            "--no-incremental",
            "--cache-dir",
            str(tmp_path / "cache"),
            "--config-file",
            str(ROOT / "pyproject.toml"),
            str(program),
        ]
    )
    revealed = re.findall(r'Revealed type is "(.*)"', out)
    assert len(revealed) == len(CASES), out + err
    for (expr, want), got in zip(CASES, revealed, strict=True):
        assert got == want, f"{expr}: {got}"
    assert "error" not in out, out
