"""What differs between the ``cryptography`` releases the engine runs on, in one place.

* ``TripleDES`` lives in ``cryptography.hazmat.decrepit`` from 43 on; 42 has it only in
  ``primitives.ciphers.algorithms`` (later releases keep a deprecated alias there).
* ``AESGCM.encrypt_into`` is missing before 47; without it, GCM encryption runs through a
  streaming cipher context.
* ``update_into`` in a stream mode (CTR, GCM) wants its output view a block less one
  longer than the input on 42, as for CBC; from 43 on, exactly as long.

Each is a feature test, not a version number. From 51 on the ``*_into`` calls refuse
overlapping memory (``ValueError``); the engine never passes it on any release, so that
needs no switch here.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

try:
    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
except ImportError:  # cryptography 42
    from cryptography.hazmat.primitives.ciphers.algorithms import TripleDES

__all__ = ["GCM_ENCRYPT_INTO", "STREAM_ROOM", "TripleDES"]

GCM_ENCRYPT_INTO: bool = hasattr(AESGCM, "encrypt_into")
"""``AESGCM.encrypt_into`` exists: a GCM encryption with its tag can be one call."""


def _stream_room() -> int:
    """Bytes ``update_into`` wants past an AES stream mode's output (probed once)."""
    ctx = Cipher(algorithms.AES(bytes(16)), modes.CTR(bytes(16))).encryptor()
    try:
        ctx.update_into(b"\0", bytearray(1))
    except ValueError:  # "buffer must be at least N bytes"
        return algorithms.AES.block_size // 8 - 1
    return 0


STREAM_ROOM: int = _stream_room()
"""Extra output bytes ``update_into`` needs in CTR and GCM (0 from 43 on)."""
