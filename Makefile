# SongForge: `make demo` and `make test` set everything up on a fresh machine.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
export DJANGO_SETTINGS_MODULE := songforge.settings

.PHONY: install install-dev demo test test-royalties-sqlite lint lint-imports types pytest run serve worker bench migrate deploy-check clean

# install: the runtime set (what `make demo` and production need); install-dev adds tests and tooling on top.
install: $(STAMP)
install-dev: $(DEV_STAMP)

$(STAMP): requirements.txt requirements-nodeps.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt
	$(BIN)/pip install -q --no-deps -r requirements-nodeps.txt
	touch $(STAMP)

$(DEV_STAMP): $(STAMP) requirements-dev.txt
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $(DEV_STAMP)

migrate: install
	DEBUG=1 $(PY) manage.py migrate --noinput

demo: install
	DEBUG=1 SONGFORGE_DATA_DIR=$${SONGFORGE_DATA_DIR:-data/demo} $(PY) manage.py migrate --noinput -v 0
	DEBUG=1 SONGFORGE_DATA_DIR=$${SONGFORGE_DATA_DIR:-data/demo} $(PY) manage.py demo

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The app boundaries (pyproject.toml [tool.importlinter]).
lint-imports: install-dev
	$(BIN)/lint-imports

types: install-dev
	SONGFORGE_TESTING=1 $(BIN)/mypy .

pytest: install-dev
	SONGFORGE_TESTING=1 $(BIN)/pytest -n 2 --dist loadgroup --no-loadscope-reorder --durations=30 $(PYTEST_ARGS)

# Static checks, then pytest-xdist: the heaviest tests go out first, in tests/conftest.py's order
# (--no-loadscope-reorder). The static checks take about 40 CPU-seconds on a cold clone (mypy 29).
test: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	SONGFORGE_TESTING=1 DATABASE_URL=sqlite:///:memory: $(PY) manage.py makemigrations --check --dry-run
	SONGFORGE_TESTING=1 $(BIN)/mypy .
	$(BIN)/lint-imports
	$(MAKE) deploy-check
	SONGFORGE_TESTING=1 $(BIN)/pytest -n 2 --dist loadgroup --no-loadscope-reorder --durations=30 $(PYTEST_ARGS)
	$(MAKE) test-royalties-sqlite

# The money tests again on SQLite (the default database), whatever DATABASE_URL says: CI's main pass runs on
# PostgreSQL, and the SQLite parser and allocation are separate code (royalties/imports/sqlite.py, the Python
# carry rule). PostgreSQL-only tests skip here; they ran in the pass above. About 40 s on 2 cores.
test-royalties-sqlite: install-dev
	SONGFORGE_TESTING=1 SONGFORGE_REQUIRE_SERVICES= DATABASE_URL=sqlite:///$(CURDIR)/data/songforge.sqlite3 \
		$(BIN)/pytest -n 2 -q tests/royalties

# checkov in a venv of its own (its boto3 pin conflicts with the runtime's), from requirements-checkov.txt.
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed

$(CHECKOV_STAMP): requirements-checkov.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install -q -r requirements-checkov.txt
	touch $(CHECKOV_STAMP)

# Dockerfile, Compose, Kubernetes and Prometheus files, checked without a container engine or cluster.
deploy-check: install-dev $(CHECKOV_STAMP)
	BIN=$(BIN) CHECKOV=$(CURDIR)/$(CHECKOV_VENV)/bin/checkov bash deploy/check.sh

run: migrate
	DEBUG=1 $(PY) manage.py runserver 127.0.0.1:8000

# The production server (gunicorn + WhiteNoise, songforge/gunicorn.py) on this machine. Set SECRET_KEY,
# and DATABASE_URL, DRAMATIQ_BROKER_URL, SONGFORGE_STORAGE=s3 … to use outside services.
serve: install
	export SECRET_KEY="$${SECRET_KEY:-$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(50))')}" \
	  SONGFORGE_STATIC_MANIFEST=1 SONGFORGE_SECURE_COOKIES="$${SONGFORGE_SECURE_COOKIES:-0}" \
	  SONGFORGE_WEB_BIND="$${SONGFORGE_WEB_BIND:-127.0.0.1:8000}" SONGFORGE_APP_DIR="$(CURDIR)" PYTHON="$(CURDIR)/$(PY)"; \
	$(PY) manage.py migrate --noinput -v 0 && $(PY) manage.py collectstatic --noinput -v 0 && \
	exec deploy/entrypoint.sh web

worker: install
	DEBUG=1 $(PY) manage.py rundramatiq --processes 1 --threads 2

# Every benchmarks/*.py at its full-size defaults; scripts named _*.py are research prototypes run by hand
# (they need General MIDI fonts extracted with apt-get download; their docstrings give the commands).
bench: install
	@mkdir -p benchmarks/results
	@for script in benchmarks/*.py; do \
		case $$script in */_*) continue;; esac; \
		echo "== $$script"; DEBUG=1 $(PY) $$script || exit 1; \
	done

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) data artifacts .mypy_cache .ruff_cache
