"""The fake device's service engines: LA (symmetric crypto) and COMP (deflate).

They execute requests as the firmware would, from the request bytes and the content
descriptor, with ``cryptography`` and ``zlib`` doing the arithmetic. The device model
registers them by service type (:func:`handlers`); each handler takes one 128-byte
request (or a batch, ``process_batch``) and device memory, and returns the 32-byte
response. A handler never raises: whatever the request, the answer is a response.
"""

from __future__ import annotations

from fakedev.engine.comp import CompHandler
from fakedev.engine.la import LaHandler
from fakedev.services import ServiceHandler
from qathw.fw.common import ServiceType
from qathw.ids import Generation

__all__ = ["CompHandler", "LaHandler", "handlers"]


def handlers(
    generation: Generation = Generation.GEN4, capabilities: int | None = None
) -> dict[ServiceType, ServiceHandler]:
    """A fresh LA and COMP handler, keyed by service type (each keeps its own caches).

    Args:
        generation: the endpoint's generation (what its cipher slices run).
        capabilities: the capability word it reports (``None``: all its generation has).
    """
    la = LaHandler(generation=generation, capabilities=capabilities)
    return {ServiceType.LA: la, ServiceType.COMP: CompHandler()}
