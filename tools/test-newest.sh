#!/usr/bin/env bash
# make test-newest: the suite (without the vm marker) on the newest release of every
# dependency that pyproject.toml's ranges allow, in a venv of its own, so that a release
# that breaks qathw is caught here before users meet it. It prints the versions it got and
# how they differ from requirements.lock. Where the package registry cannot be reached it
# says so and skips; any other failure fails.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=.venv-newest
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT

echo "test-newest: building $VENV with the newest releases pyproject.toml allows"
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV" || { echo "test-newest: cannot create a venv with $PYTHON"; exit 1; }
# Can the package registry be reached at all? A registry we cannot reach is a skip that
# says so; once it answers, any install failure is drift and fails.
PROBE=$(mktemp -d)
if ! "$VENV/bin/python" -m pip download -q --no-deps --no-cache-dir -d "$PROBE" pip >"$LOG" 2>&1; then
  rm -rf "$PROBE"
  echo "test-newest: SKIPPED: the package registry cannot be reached, so the newest releases cannot be tested:"
  grep -v "^WARNING: Location" "$LOG" | tail -3
  exit 0
fi
rm -rf "$PROBE"
if ! "$VENV/bin/python" -m pip install -q --no-cache-dir --upgrade --upgrade-strategy eager \
    -e '.[test,dev,vm]' -r requirements/build.in >"$LOG" 2>&1; then
  echo "test-newest: FAILED: the newest releases allowed by pyproject.toml do not install:"
  grep -v "^WARNING: Location" "$LOG" | tail -20
  exit 1
fi

echo "test-newest: versions under test (lock version in brackets where it differs):"
"$VENV/bin/python" - <<'PY'
import re
from importlib.metadata import distributions

from packaging.markers import Marker
from packaging.utils import canonicalize_name

locked = {}
pins = re.findall(r"^([A-Za-z0-9_.-]+)==([^\s;\\]+)\s*(?:;\s*([^\\\n]+?))?\s*\\?$",
                  open("requirements.lock").read(), re.M)
for name, version, marker in pins:
    if not marker or Marker(marker).evaluate():
        locked[canonicalize_name(name)] = version
for dist in sorted(distributions(), key=lambda d: canonicalize_name(d.metadata["Name"])):
    name = canonicalize_name(dist.metadata["Name"])
    if name in ("pip", "setuptools", "qathw"):  # the venv's own tools, and us
        continue
    lock = locked.get(name)
    note = "" if lock == dist.version else f"  [lock {lock or 'absent'}]"
    print(f"  {name}=={dist.version}{note}")
PY

exec "$VENV/bin/python" -m pytest -q -m "not vm" -n 2 -p no:cacheprovider
