"""The demo's two emulated endpoints: files, device processes, and a fake sysfs tree.

Each endpoint is a PF-style emulated 4xxx (64 banks, no PF/VF mailbox), the kind several
processes may share: every process maps the file through the fake sysfs tree and
programs only the banks of its own instances. :func:`fakedev.running` makes them, serves
each with its own device process and presents them as ivshmem functions 0000:00:10.0 and
0000:00:11.0, so discovery numbers them qat_dev0 and qat_dev1, matching the seed's
``4xxx_dev0.conf`` and ``4xxx_dev1.conf`` (which the demo writes itself: ``sections=[]``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import fakedev
from fakedev import Endpoint, QatHost

SIZE = 64 << 20


@contextlib.contextmanager
def running(root: Path, count: int = 2) -> Iterator[QatHost]:
    """``count`` served endpoints under ``root`` (empty or missing), for a ``with`` block.

    Raises:
        fakedev.FakeHostError: an endpoint could not be made or did not start.
    """
    with fakedev.running(
        [Endpoint("4xxx", "asym;sym", size=SIZE)] * count, [], directory=root
    ) as h:
        yield h
