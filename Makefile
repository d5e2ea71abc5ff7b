# fabcoord: two commands do everything on a fresh machine.
#   make demo   set up .venv and run the demo scenario on the embedded SQLite default
#   make test   set up .venv, start what the tests need, run linters and the whole suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

demo: $(INSTALLED)
	$(PY) -m scripts.demo

lint: $(INSTALLED)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check --quiet .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

test: $(INSTALLED)
	bash scripts/ensure-services.sh
	bash scripts/ensure-chromium.sh
	bash scripts/ensure-poppler.sh
	bash scripts/ensure-octoprint.sh
	$(MAKE) --no-print-directory lint
	$(VENV)/bin/pytest

bench: $(INSTALLED)
	bash scripts/ensure-services.sh
	$(PY) -m bench.cli_startup
	$(PY) -m bench.ledger_bench
	$(PY) bench/orders_bench.py
	$(PY) -m bench.service_bench
	$(PY) -m bench.handoff_bench
	$(PY) -m bench.suppliers_bench
	$(PY) -m bench.report_bench
	bash scripts/ensure-octoprint.sh
	$(PY) -m bench.farm_bench
	$(PY) -m bench.farm_idle_gap
	$(PY) -m bench.farm_dispatch_load
	$(PY) -m bench.farm_dispatch_scale
	$(PY) -m bench.farm_db_lock
	$(PY) -m bench.plan_bench
	$(PY) -m bench.batch_docs_bench

clean:
	rm -rf $(VENV) build demo-output .pytest_cache .mypy_cache .ruff_cache
