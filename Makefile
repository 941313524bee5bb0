# qathw — every target creates what it needs itself (virtual env, packages, and when
# running as root on Debian: python3-venv; QEMU, a kernel, prometheus and zsh for the VM,
# exporter and completion tests).
# Packages come from requirements.lock (every extra, with hashes); `make lock` regenerates
# it from pyproject.toml's ranges, `make test-newest` runs the suite on the newest releases
# those ranges allow.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
LOCK   := requirements.lock
SHELL  := /bin/bash

.PHONY: all demo test test-newest lock lint typecheck unit bench vm-deps clean fuzz

all: test

$(BIN)/python:
	@if ! $(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null; then \
	  echo "qathw needs Python >= 3.11 as '$(PYTHON)' (set PYTHON=...)"; exit 1; fi
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing python3-venv through apt"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null && \
	    rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); \
	  else echo "cannot create a virtual env: install python3-venv"; exit 1; fi; }

# Every package at its locked version and hash; then qathw itself, built by the locked
# backend (no build isolation, so nothing unpinned is fetched).
$(STAMP): $(BIN)/python pyproject.toml $(LOCK)
	$(BIN)/python -m pip install -q --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	@touch $@

# The lock covers every extra (runtime, test, dev, vm) and the build backend, for any
# platform, from pyproject.toml's ranges.
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml requirements/build.in --all-extras --universal \
	  --python-version 3.11 --generate-hashes -o $(LOCK)

# QEMU, Debian's kernel and a static busybox (virtme-ng's initramfs needs one) for the vm
# tests, and Prometheus for the exporter's scrape test; only where we can (root with apt).
vm-deps:
	@if command -v qemu-system-x86_64 >/dev/null && ls /boot/vmlinuz-* >/dev/null 2>&1 \
	    && { command -v busybox-static >/dev/null || dpkg -s busybox-static >/dev/null 2>&1; } \
	    && command -v prometheus >/dev/null && command -v zsh >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing qemu-system-x86, linux-image-amd64, busybox-static, prometheus and zsh through apt (vm, exporter and completion tests)"; \
	  (apt-get update -qq || true) && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-system-x86 linux-image-amd64 busybox-static prometheus zsh >/dev/null \
	    || echo "apt install failed: vm, exporter scrape and zsh completion tests will skip and say why"; \
	else echo "not root or no apt: vm, exporter scrape and zsh completion tests will skip (install qemu-system-x86, linux-image-amd64, busybox-static, prometheus and zsh to run them)"; fi

demo: $(STAMP)
	$(BIN)/python -m demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/python -m pytest -q

# Two workers for the host tests (two cores here); the guests one at a time, since each
# QEMU under TCG wants both cores.
test: $(STAMP) vm-deps lint typecheck
	$(BIN)/python -m pytest -q -m "not vm" -n 2
	$(BIN)/python -m pytest -q -m vm

test-newest:
	PYTHON=$(PYTHON) bash tools/test-newest.sh

bench: $(STAMP)
	$(BIN)/python benchmarks/ring_roundtrip.py
	$(BIN)/python benchmarks/request_throughput.py
	$(BIN)/python benchmarks/streaming.py
	$(BIN)/python benchmarks/driver_overhead.py
	$(BIN)/python benchmarks/broker.py
	$(BIN)/python benchmarks/split_driver.py

# The adversarial campaign (fakedev/campaign.py): a million hostile requests and a million
# hostile register stores at a 4xxx PF, a 4xxx VF and a c6xx VF.
fuzz: $(STAMP)
	$(BIN)/python -m fakedev.campaign --requests 1000000 --stores 1000000 \
	  --seeds tests.fakedev_device.campaign_seeds:build

clean:
	rm -rf $(VENV) .venv-newest .pytest_cache .mypy_cache .ruff_cache
