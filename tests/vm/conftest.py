"""VM tests: skip them (saying how to enable them) only where no guest can boot.

``tests/vm/guest/`` holds tests that run *inside* a guest; the host never collects them.
"""

from __future__ import annotations

import os

import pytest

from tests.vm.fixtures import (  # noqa: F401 (fixtures for this directory)
    guest,
    guest_spec,
    migratable_guest,
    migratable_spec,
)
from vm.host import missing_reason

collect_ignore = [] if os.environ.get("QATHW_IN_GUEST") else ["guest"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    vm_items = [item for item in items if "vm" in item.keywords]
    if not vm_items:
        return
    reason = missing_reason()
    if reason:
        for item in vm_items:
            item.add_marker(pytest.mark.skip(reason=reason))
