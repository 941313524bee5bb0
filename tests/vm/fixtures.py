"""The ``guest`` and ``migratable_guest`` fixtures (one guest per test module), usable as
a pytest plugin.

``tests/vm/conftest.py`` imports these; a subprocess pytest can load them with
``-p tests.vm.fixtures``. A module changes what is booted by overriding ``guest_spec``
(the virtme-ng profile) or ``migratable_spec`` (the migratable profile).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import nullcontext

import pytest

from vm.guest import Guest, GuestSpec
from vm.host import missing_reason
from vm.migratable import MigratableGuest, MigratableSpec


class TerminalSink:
    """Boot progress through pytest's terminal writer (output capture does not hide it)."""

    def __init__(self, config: pytest.Config) -> None:
        self._tr = config.pluginmanager.get_plugin("terminalreporter")
        self._capture = config.pluginmanager.get_plugin("capturemanager")
        self._tty = bool(self._tr is not None and self._tr.isatty)

    @property
    def in_place(self) -> bool:
        return self._tty

    def __call__(self, text: str, final: bool) -> None:
        if self._tr is None:
            return
        # The reporter writes to fd 1, which pytest captures while a fixture sets up.
        with self._capture.global_and_fixture_disabled() if self._capture else nullcontext():
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


@pytest.fixture(scope="module")
def migratable_spec() -> MigratableSpec:
    """What the module's migratable guest is; override in a module to attach devices."""
    return MigratableSpec()


@pytest.fixture(scope="module")
def migratable_guest(
    request: pytest.FixtureRequest, migratable_spec: MigratableSpec
) -> Iterator[MigratableGuest]:
    """A booted guest of the migratable profile, shared by a module's tests (it may move
    between QEMUs: migrate, save, restore), shut down after them."""
    reason = missing_reason(vng=False)
    if reason:
        pytest.skip(reason)
    g = MigratableGuest(migratable_spec, progress=TerminalSink(request.config))
    try:
        yield g
    finally:
        g.shutdown()
