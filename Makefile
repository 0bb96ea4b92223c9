# Developer entry points. Nothing here needs the machine's own PostgreSQL or Redis:
# without DATABASE_URL / REDIS_URL, embedded ones are started under .local/.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: help venv run test lint clean

help:
	@echo "make venv | run | test [PYTEST_ARGS=...] | lint | bench-ledger [BENCH_LEDGER_ARGS=...] | bench-repayments [BENCH_REPAYMENTS_ARGS=...] | bench-eod [BENCH_EOD_ARGS=...] | clean"

venv: $(STAMP)

# Reinstall only when a requirements file changed. The .pth puts the repo root and
# platform/ (home of the `orderfin` package; never a package itself, it would shadow
# the stdlib `platform`) on sys.path for every entry point: celery, gunicorn, pytest.
$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements-dev.txt
	site=$$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'); \
	printf '%s\n' "$(CURDIR)" "$(CURDIR)/platform" > "$$site/orderfin-paths.pth"
	touch $@

run: venv
	$(PY) -m orderfin.launch

lint: venv
	$(VENV)/bin/ruff check .

test: lint
	$(PY) -m orderfin.devservices exec -- $(PY) -m pytest $(PYTEST_ARGS)

clean:
	if [ -x $(PY) ]; then $(PY) -m orderfin.devservices stop || true; fi
	rm -rf .local

# Ledger benchmark: loan-funding postings through the real service vs pgbench tpcb-like on
# the same server (scratch databases, dropped afterwards); prints one JSON line.
BENCH_LEDGER_ARGS ?=
.PHONY: bench-ledger
bench-ledger: venv
	DJANGO_SETTINGS_MODULE=orderfin.settings.test $(PY) -m orderfin.devservices exec -- $(PY) manage.py bench_ledger $(BENCH_LEDGER_ARGS)

# End-of-day benchmark: a synthetic book (default 1,000,000 loans) through one EOD on Celery workers, then again.
.PHONY: bench-eod
bench-eod: venv
	DJANGO_SETTINGS_MODULE=orderfin.settings.test $(PY) -m orderfin.devservices exec -- $(PY) manage.py bench_eod $(BENCH_EOD_ARGS)

# Repayments benchmark: repayments through the real repayment_post over a book of active loans vs pgbench tpcb-like on
# the same server (scratch databases, dropped afterwards), then the reconciliation; prints one JSON line.
BENCH_REPAYMENTS_ARGS ?=
.PHONY: bench-repayments
bench-repayments: venv
	DJANGO_SETTINGS_MODULE=orderfin.settings.test $(PY) -m orderfin.devservices exec -- $(PY) manage.py bench_repayments $(BENCH_REPAYMENTS_ARGS)
