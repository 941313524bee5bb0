"""The ``guest`` fixture (one guest per test module), usable as a pytest plugin.

``tests/vm/conftest.py`` imports these; a subprocess pytest can load them with
``-p tests.vm.fixtures``. A module changes what is booted by overriding ``guest_spec``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from vm.guest import Guest, GuestSpec
from vm.host import missing_reason


class TerminalSink:
    """Boot progress through pytest's terminal writer (output capture does not hide it)."""

    def __init__(self, config: pytest.Config) -> None:
        self._tr = config.pluginmanager.get_plugin("terminalreporter")
        self._tty = bool(self._tr is not None and self._tr.isatty)

    @property
    def in_place(self) -> bool:
        return self._tty

    def __call__(self, text: str, final: bool) -> None:
        if self._tr is None:
            return
        if self._tty:
            self._tr.rewrite(text, erase=True)
            if final:
                self._tr.write_line("")
        else:
            self._tr.write_line(text)


@pytest.fixture(scope="module")
def guest_spec() -> GuestSpec:
    """What the module's guest is; override in a module to attach devices."""
    return GuestSpec()


@pytest.fixture(scope="module")
def guest(request: pytest.FixtureRequest, guest_spec: GuestSpec) -> Iterator[Guest]:
    """A booted guest shared by the tests of one module, shut down after them."""
    reason = missing_reason()
    if reason:
        pytest.skip(reason)
    g = Guest(guest_spec, progress=TerminalSink(request.config))
    try:
        yield g
    finally:
        g.shutdown()
