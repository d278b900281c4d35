# The two commands of the README, and the steps they stand on.
#   make demo   - local control plane + CRDs + operator on the local encrypted store + an example
#   make test   - the whole test suite on real components (builds/fetches them on first use)
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: venv binaries lint node-deps test-deps image test unit demo kind-e2e clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test]'
	touch $@

# Go-built components (etcd, kube-apiserver, kube-controller-manager, helm, Vault, the Key Vault test
# server, kube-scheduler, kubelet), cached by version in ~/.cache/config-manager; a no-op once built.
binaries:
	tools/build-binaries.sh >/dev/null

# The static gates: import-linter contracts (.importlinter), ruff ([tool.ruff]), mypy --strict ([tool.mypy]).
lint: venv
	$(VENV)/bin/lint-imports --config .importlinter
	$(VENV)/bin/ruff check operator tests bench
	$(VENV)/bin/mypy operator/config_manager

# What the local node needs from Debian (containerd, runc, CNI plugins, iptables, mmdebstrap, ...);
# a no-op when installed. The node's tests (tests/e2e, marker `node`) need root.
node-deps:
	tools/install-node-deps.sh

# What the integration tests need from Debian besides the node (PostgreSQL 15 for Vault's database
# secrets engine, tests/helpers/postgres.py); a no-op when installed.
test-deps:
	tools/install-test-deps.sh

# The operator image (operator/Dockerfile): docker build, or here a Debian root filesystem; prints the
# docker-archive's path. The node tests build it themselves (cached).
image: venv
	tools/build-image.sh

test: venv binaries node-deps test-deps
	$(VENV)/bin/pytest $(PYTEST_ARGS)

unit: venv
	$(VENV)/bin/pytest tests/unit $(PYTEST_ARGS)

demo: venv binaries
	$(PY) -m config_manager.demo

# For users with Docker: the e2e suite on a kind cluster (see tools/kind-e2e.sh).
kind-e2e: venv
	tools/kind-e2e.sh

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis

.PHONY: bench
BENCH_ARGS ?= --all
bench: venv binaries  # the benchmarks (docs/performance.md), ~40 min; BENCH_ARGS="--sizes 1000,5000,10000" for one
	$(VENV)/bin/pip install --quiet -e '.[test,bench]' && $(PY) -m bench $(BENCH_ARGS)
