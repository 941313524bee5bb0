"""The ``qathw`` pytest plugin: a fake QAT host per test, for an application's own CI.

Installed with the package (entry point ``pytest11``: ``qathw``), it gives every test
session the ``qat_host`` fixture and the ``qat_host`` marker::

    import qathw

    def test_encrypts(qat_host):
        with qathw.user_start("SSL") as held, qathw.open_instances(held) as insts:
            ...

    @pytest.mark.qat_host(endpoints=[Endpoint("4xxx", "asym;sym")],
                          sections=[Section("IPSec", cy=4, processes=2)])
    def test_two_workers(qat_host): ...

The fixture is :func:`fakedev.running` with the marker's keyword arguments (endpoints,
sections, topology, timeout), and the host's three environment variables set for the
test and restored after it. Every test gets a host of its own — its own device processes,
files and section locks — so no test sees what another left behind (a section held, a
device faulted, a ring left mid-request); under pytest-xdist each worker builds its own.
When that cost matters more than the isolation, share one host through a fixture of a
wider scope around :func:`fakedev.running` (docs/testing.md).

A section the test still holds when it ends belongs to the test's process, not to the
host: ``with qathw.user_start(...)`` gives it back.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from fakedev.host import QatHost

# fakedev.host is imported by the fixture, not here: pytest loads this plugin in every
# session of every project where qathw is installed, most of which never use it.

MARKER = "qat_host"
_KEYWORDS = ("endpoints", "sections", "topology", "timeout")


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker, so that ``--strict-markers`` accepts it."""
    config.addinivalue_line(
        "markers",
        f"{MARKER}(endpoints=..., sections=..., topology=..., timeout=...): the fake QAT "
        "host the qat_host fixture builds (the arguments of fakedev.running)",
    )


def host_arguments(marker: pytest.Mark | None) -> dict[str, Any]:
    """The keyword arguments of :func:`fakedev.running` a ``qat_host`` marker asks for.

    Raises:
        FakeHostError: positional arguments, or a keyword ``running`` does not take.
    """
    from fakedev.hostspec import FakeHostError

    if marker is None:
        return {}
    if marker.args:
        raise FakeHostError(
            f"give the {MARKER} marker keywords only ({', '.join(_KEYWORDS)}), "
            f"not {len(marker.args)} positional argument(s)"
        )
    unknown = sorted(set(marker.kwargs) - set(_KEYWORDS))
    if unknown:
        raise FakeHostError(
            f"the {MARKER} marker takes {', '.join(_KEYWORDS)}, not {', '.join(unknown)}"
        )
    return dict(marker.kwargs)


@pytest.fixture
def qat_host(request: pytest.FixtureRequest) -> Iterator[QatHost]:
    """A running fake QAT host, its environment set for the test.

    By default one 4xxx VF serving ``sym;dc`` and ``[SSL]`` with one Cy and one Dc
    instance; ``@pytest.mark.qat_host(...)`` chooses others. Its device processes are
    stopped by pid and its files removed when the test ends, passed or not.
    """
    from fakedev.host import running
    from fakedev.hostspec import FakeHostError

    with contextlib.ExitStack() as stack:
        try:
            kwargs = host_arguments(request.node.get_closest_marker(MARKER))
            host = stack.enter_context(running(**kwargs))
        except FakeHostError as exc:
            pytest.fail(f"{MARKER}: {exc}", pytrace=False)
        yield stack.enter_context(host.environment())
