"""The software fallback on a host without endpoints (the real code path), and logging."""

from __future__ import annotations

import gzip
import hashlib
import logging
import zlib
from collections.abc import Iterator

import pytest

import qathw
from qathw.service import fallback
from tests.service import rig


@pytest.fixture
def no_device() -> Iterator[rig.Host]:
    """A host with configuration files but no QAT endpoint at all."""
    host = rig.build(endpoints=())
    try:
        with rig.environment(host):
            yield host
    finally:
        rig.remove(host)


def test_without_fallback_a_missing_device_is_an_error(no_device: rig.Host) -> None:
    with pytest.raises(qathw.QatError) as info:
        qathw.compress(b"data")
    assert isinstance(info.value, fallback.UNAVAILABLE)


def test_software_fallback_output_is_read_by_gzip(no_device: rig.Host) -> None:
    blob = qathw.compress(b"fallback data" * 50, wbits=31, fallback="software")
    assert gzip.decompress(blob) == b"fallback data" * 50


def test_software_fallback_decompresses(no_device: rig.Host) -> None:
    blob = zlib.compress(b"zlib data")
    assert qathw.decompress(blob, fallback="software") == b"zlib data"


def test_software_fallback_hashes_as_hashlib(no_device: rig.Host) -> None:
    with qathw.accelerator(fallback="software") as qat:
        assert qat.software
        h = qat.hash("sha256", b"abc")
        assert h.digest() == hashlib.sha256(b"abc").digest()


def test_the_fallback_is_logged_as_a_warning(
    no_device: rig.Host, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fallback, "_warned", False)
    with caplog.at_level(logging.DEBUG, logger="qathw"):
        qathw.compress(b"x", fallback="software")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].name.startswith("qathw.")
    assert "using software" in warnings[0].getMessage()


def test_an_unknown_fallback_is_refused(no_device: rig.Host) -> None:
    with pytest.raises(ValueError, match="fallback"):
        qathw.compress(b"x", fallback="cpu")


def test_the_library_installs_no_log_handler() -> None:
    assert logging.getLogger("qathw").handlers == []
