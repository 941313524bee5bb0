"""Running one operation through host builders and the engine, and reading responses."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from fakedev.engine import LaHandler
from qathw.service import wire as ops
from qathw.service.cd import LaSetup
from tests.engine.arena import Arena


@dataclass(frozen=True)
class Response:
    """The fields of a 32-byte response a test looks at."""

    raw: bytes

    @property
    def status(self) -> int:
        return self.raw[6]

    @property
    def cmp_err(self) -> int:
        return int(struct.unpack("b", self.raw[5:6])[0])

    @property
    def xlat_err(self) -> int:
        return int(struct.unpack("b", self.raw[4:5])[0])

    @property
    def hdr_flags(self) -> int:
        return self.raw[3]

    @property
    def opaque(self) -> int:
        return int(struct.unpack_from("<Q", self.raw, 8)[0])

    @property
    def counters(self) -> tuple[int, int, int, int]:
        """COMP: input consumed, output produced, CRC32, Adler-32."""
        a, b, c, d = struct.unpack_from("<IIII", self.raw, 16)
        return int(a), int(b), int(c), int(d)


def run_la(arena: Arena, handler: LaHandler, setup: LaSetup, **op: Any) -> Response:
    """Place the CD, build the request with ``ops.la_request(**op)``, run it."""
    cd = arena.put(setup.cd, align=64)
    req = ops.la_request(setup, cd, opaque=op.pop("opaque", 0x1122334455667788), **op)
    return Response(handler(bytes(req), arena.memory))
