from collections.abc import Iterator

import pytest

from tests.exporter.served import ServedHost, served_host
from tests.fakedev_sysfs.helpers import make_fake

__all__ = ["make_fake", "served"]


@pytest.fixture
def served() -> Iterator[ServedHost]:
    """A fake host whose emulated endpoint 0000:00:10.0 is served by a real device process."""
    with served_host() as host:
        yield host
