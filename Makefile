# Everything runs from a fresh clone: targets create the virtualenvs they need.
#   make deploy   - LocalStack (found or embedded) + tflocal apply in the repo root + call the URL
#   make destroy  - tflocal destroy in the root, stop LocalStack if deploy started it
#   make test     - unit, terraform, embedded-executor and acceptance tests; leaves nothing running
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

.PHONY: help sandbox-tools runtime venv start stop status deploy destroy recover test lint fmt bench clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

# pip's output goes to a log (the offline indexes print a warning per package); it is
# shown when the install fails.
$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (set PYTHON=/path/to/python3.11)"; exit 2; }
	@mkdir -p $(STATE)
	@echo "==> creating $(VENV) (harness and dev tools)"
	@$(PYTHON) -m venv $(VENV)
	@$(VENV)/bin/pip install -e '.[dev]' >$(STATE)/pip-venv.log 2>&1 || { tail -40 $(STATE)/pip-venv.log; exit 1; }
	@touch $@

LAMBDA_RUNTIME_LOCKS := $(wildcard embedded_localstack/requirements/lambda-runtime-*.lock)

$(LS_VENV)/.installed: requirements/localstack.txt pyproject.toml $(LAMBDA_RUNTIME_LOCKS)
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (set PYTHON=/path/to/python3.11)"; exit 2; }
	@mkdir -p $(STATE)
	@echo "==> creating $(LS_VENV) (localstack-core for embedded mode; ~1-2 min the first time)"
	@$(PYTHON) -m venv $(LS_VENV)
	@$(LS_VENV)/bin/pip install -r requirements/localstack.txt >$(STATE)/pip-localstack.log 2>&1 || { tail -40 $(STATE)/pip-localstack.log; exit 1; }
	@# our executor plugin, registered through the entry point in pyproject.toml
	@$(LS_VENV)/bin/pip install --no-deps -e . >>$(STATE)/pip-localstack.log 2>&1 || { tail -40 $(STATE)/pip-localstack.log; exit 1; }
	@# boto3 & co. as AWS's Python runtimes ship them, from the exact lock, into $(LS_VENV)/lambda-runtime/<runtime>
	@$(LS_VENV)/bin/python -m embedded_localstack.runtime_packages $(LS_VENV) python3.11 >>$(STATE)/pip-localstack.log 2>&1 || { tail -40 $(STATE)/pip-localstack.log; exit 1; }
	@touch $@

# checkov in its own venv (requirements/scan.txt says why).
$(SCAN_VENV)/.installed: requirements/scan.txt
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (set PYTHON=/path/to/python3.11)"; exit 2; }
	@mkdir -p $(STATE)
	@echo "==> creating $(SCAN_VENV) (checkov for the security scan)"
	@$(PYTHON) -m venv $(SCAN_VENV)
	@$(SCAN_VENV)/bin/pip install -r requirements/scan.txt >$(STATE)/pip-scan.log 2>&1 || { tail -40 $(STATE)/pip-scan.log; exit 1; }
	@touch $@

$(STATE)/terraform.rc: lambda_url_harness/tfconfig.py
	@$(PYTHON) -m lambda_url_harness.tfconfig --state-dir $(STATE) >/dev/null

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
	  { apt-get install -y --no-install-recommends $$missing || { apt-get update && apt-get install -y --no-install-recommends $$missing; }; } \
	    >$(STATE)/apt-sandbox.log 2>&1 || { tail -20 $(STATE)/apt-sandbox.log; exit 1; }; \
	else \
	  echo "error: the embedded Lambda sandbox needs:$$missing. Install with: sudo apt-get install$$missing" \
	       "(or run functions uncontained: EMBEDDED_LAMBDA_SANDBOX=off)"; exit 2; \
	fi

# What deploy/start/stop need; `venv` adds the scan venv that only the tests use.
runtime: $(VENV)/.installed $(LS_VENV)/.installed $(STATE)/terraform.rc sandbox-tools

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

test: venv ## run every test (unit, terraform, embedded, acceptance); leaves nothing running
	@$(PY) -m pytest $(PYTEST_ARGS)

lint: venv ## ruff and terraform fmt
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .
	@terraform fmt -check -recursive

fmt: venv ## format Python and HCL
	@$(VENV)/bin/ruff format .
	@$(VENV)/bin/ruff check --fix .
	@terraform fmt -recursive

bench: venv ## benchmark the deploy/call/destroy cycle and invoke latency
	@$(PY) -m bench

clean: ## remove venvs, state and build outputs (stops LocalStack first)
	-@[ -x $(PY) ] && $(PY) -m embedded_localstack stop || true
	rm -rf $(VENV) $(LS_VENV) $(SCAN_VENV) $(STATE) builds examples/*/builds .pytest_cache .ruff_cache
