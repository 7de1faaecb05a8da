# beo-automation — developer and operator entry points.
#
# `make run` and `make test` bootstrap everything they need on a machine that has only
# Python 3.11+: a virtualenv in .venv/, uv inside it when uv is not on the PATH, and the
# locked dependencies from uv.lock.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Prefer a uv already on the PATH; otherwise the bootstrap installs one into .venv.
UV ?= $(shell command -v uv 2>/dev/null || echo $(BIN)/uv)
SYNCED := $(VENV)/.synced
MANAGE := $(BIN)/python manage.py
PORT ?= 8000
PYTEST_ARGS ?=
# pytest-xdist workers for `make test` (auto: one per CPU; 0 runs in this process).
PYTEST_WORKERS ?= auto

export UV_PROJECT_ENVIRONMENT := $(VENV)
# Processes started by honcho (python, gunicorn, celery) come from the virtualenv.
export PATH := $(CURDIR)/$(BIN):$(PATH)
# Never let uv download a different interpreter: the machine's Python is the one we test on.
export UV_PYTHON_DOWNLOADS := never

.PHONY: help install run test fuzz chaos lint format migrate manage worker housekeeping beat web check-deploy clean

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)

$(BIN)/uv: | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv>=0.9"

# uv sync --inexact keeps a uv that the bootstrap put into .venv.
$(SYNCED): pyproject.toml uv.lock | $(BIN)/python $(if $(findstring $(BIN)/uv,$(UV)),$(BIN)/uv)
	$(UV) sync --frozen --inexact --python $(BIN)/python
	@touch $@

install: $(SYNCED)  ## Create .venv and install the locked dependencies

# A local, never-committed .env with a generated SECRET_KEY (the real environment still wins).
.env:
	@umask 077; echo "# Local settings for make run; generated $$(date -u +%FT%TZ). Never commit." > .env
	@echo "SECRET_KEY=$$($(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(64))')" >> .env
	@echo "Wrote .env with a generated SECRET_KEY"

# `make run` is a development entry point: DEBUG on and human-readable logs unless overridden.
run: export DEBUG ?= true
run: export LOG_FORMAT ?= console
run: export LOG_LEVEL ?= http
run: export PORT := $(PORT)
run: $(SYNCED) .env  ## Start the whole app (embedded SQLite default, or web+worker+beat with DATABASE_URL and REDIS_URL)
	$(MANAGE) migrate --no-input
	$(MANAGE) collectstatic --no-input -v 0
	@if [ -n "$$DATABASE_URL" ] && [ -n "$$REDIS_URL" ]; then \
	  $(MANAGE) staff_check && \
	  exec $(BIN)/honcho start -f Procfile web worker housekeeping beat; \
	else \
	  $(MANAGE) bootstrap_local && \
	  exec $(BIN)/honcho start -f beo_automation/Procfile.embedded; \
	fi

web: $(SYNCED)  ## Run only the web process (gunicorn)
	$(BIN)/gunicorn beo_automation.wsgi -c python:beo_automation.gunicorn_conf

worker: $(SYNCED)  ## Run a Celery worker for events and housekeeping (needs REDIS_URL)
	$(BIN)/celery -A beo_automation worker --loglevel=INFO

housekeeping: $(SYNCED)  ## Run only the housekeeping worker: sweep and alert jobs (needs REDIS_URL)
	$(BIN)/celery -A beo_automation worker -Q $${CELERY_QUEUE:-beo}.housekeeping -n housekeeping@%h --loglevel=INFO --concurrency=1

beat: $(SYNCED)  ## Run Celery beat (needs REDIS_URL)
	$(BIN)/celery -A beo_automation beat --loglevel=INFO

migrate: $(SYNCED)  ## Apply database migrations
	$(MANAGE) migrate --no-input

# manage.py through the virtualenv, with the same local .env as `make run` (the real environment
# still wins), e.g. make manage ARGS="health_check --json".
ARGS ?= help
manage: $(SYNCED) .env  ## Run a manage.py command: make manage ARGS="health_check --json"
	@$(MANAGE) $(ARGS)

test: $(SYNCED)  ## Run the test suite in parallel (uses DATABASE_URL/REDIS_URL when set)
	$(BIN)/pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

# Proof (docs/chaos.md): both need PostgreSQL and Redis (redis-server on the PATH for chaos);
# each makes and removes its own database, Redis data and processes.
FUZZ_ARGS ?=
CHAOS_ARGS ?=
fuzz: $(SYNCED)  ## schemathesis over the whole API against a live gunicorn (user and staff)
	$(BIN)/python bench/fuzz.py $(FUZZ_ARGS)

chaos: $(SYNCED)  ## The fault run: 20,000 events through kills and restarts (CHAOS_ARGS=--small: CI's)
	$(BIN)/python bench/chaos.py $(CHAOS_ARGS)

# mypy's Django plugin and makemigrations load the settings: give them a throwaway,
# file-less development configuration so lint never depends on a local .env.
LINT_ENV := DEBUG=true LOG_DIR= ENV_FILE=/dev/null

lint: $(SYNCED)  ## ruff format check, ruff lint, import layers, mypy, migrations up to date
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache
	$(LINT_ENV) $(BIN)/mypy .
	$(LINT_ENV) $(MANAGE) makemigrations --check --dry-run --no-input

format: $(SYNCED)  ## Apply ruff formatting and safe fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

check-deploy: $(SYNCED)  ## Django's deployment checklist with the current environment
	$(MANAGE) check --deploy --fail-level WARNING

clean:  ## Remove the virtualenv and caches (keeps .env, the database and backups)
	rm -rf $(VENV) .mypy_cache .ruff_cache
