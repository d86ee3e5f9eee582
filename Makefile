# The two commands of the Quick start: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint bench bench-deps browser-deps messages worker beat

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# SQLite file, tasks in-process, demo data, http://127.0.0.1:$(PORT)/ (`PORT=8001 make run`)
PORT ?= 8000
run: install
	DEBUG=1 $(BIN)/python manage.py migrate --noinput
	DEBUG=1 $(BIN)/python manage.py seed_demo
	@echo "Serving on http://127.0.0.1:$(PORT)/ (Ctrl-C stops)"
	DEBUG=1 $(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

# The whole suite. DATABASE_URL / CELERY_BROKER_URL pick PostgreSQL / Redis (see .ci/run).
test: install browser-deps
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

# The browser tests drive Debian's Chromium through Playwright (Playwright cannot download
# its own browser here).
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "Installing Debian's chromium for the browser tests"; \
		apt-get update -qq && apt-get install -y -qq chromium fonts-noto-cjk; }

lint: install
	$(BIN)/ruff check .

# The HTTP benchmarks drive the server with wrk (Debian's package: a C load generator that
# costs little CPU, scripted in Lua); the others need only PostgreSQL and Redis.
bench-deps:
	@command -v wrk >/dev/null 2>&1 || { \
		echo "Installing Debian's wrk for the HTTP benchmarks"; \
		apt-get update -qq && apt-get install -y -qq wrk; }

# Benchmarks need PostgreSQL (and Redis for the worker): see README, "Benchmarks".
bench: install bench-deps
	$(BIN)/python bench/rankings.py
	$(BIN)/python bench/api.py
	DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/linfen_bench_import} \
		$(BIN)/python bench/import_sessions.py
	$(BIN)/python bench/load.py
	$(BIN)/python bench/evidence.py

messages: install
	DEBUG=1 $(BIN)/python manage.py makemessages -l zh_Hans -l en --no-location --ignore=.venv
	DEBUG=1 $(BIN)/python manage.py compilemessages --ignore=.venv

worker: install
	$(BIN)/celery -A linfen_tracker worker -l info --concurrency 2

beat: install
	$(BIN)/celery -A linfen_tracker beat -l info
