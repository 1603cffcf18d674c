# Two commands: `make run` serves the portal, `make test` runs the fast tests.
# Both create .venv, install and migrate on their own. `make test-integration` runs
# the tests that start a real Celery worker or a real browser (slower).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test test-slow test-integration lint format check-deploy clean

# uv (from PyPI, into the venv) installs the same packages in seconds rather than minutes;
# plain pip does it where uv cannot be had.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	( $(PY) -m pip install --quiet uv && VIRTUAL_ENV=$(VENV) $(VENV)/bin/uv pip install --quiet -e '.[dev]' ) \
	  || $(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	DEBUG=$${DEBUG:-true} $(PY) manage.py run_portal

# Unit and API tests, two processes at a time; one OpenMP thread each, or the two
# processes' numeric libraries spin on each other's cores. Tests marked slow (the
# permission matrices, schema conformance, go-live pack renders) run in
# .ci/run's PostgreSQL stage, or here with `make test-slow`.
test: $(STAMP)
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(PY) -m pytest -m "not integration and not browser and not slow" -n 2

test-slow: $(STAMP)
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(PY) -m pytest -m "slow and not integration and not browser" -n 2

# A real worker, the broker and Chromium: one at a time, they share the broker's queues.
test-integration: $(STAMP)
	$(PY) -m pytest -m "integration or browser"

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) var
