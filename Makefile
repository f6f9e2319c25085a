# The only commands a newcomer needs. `make run` and `make test` set everything up themselves.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
UV_VERSION := 0.13.9

.PHONY: setup run test test-fast bench bench-registry bench-scoring bench-evaluation bench-uncertainty bench-workflow lint token clean

$(VENV)/.synced: pyproject.toml uv.lock
	@test -x $(PY) || python3 -m venv $(VENV)
	@test -x $(UV) || $(PY) -m pip install -q "uv==$(UV_VERSION)"
	@$(UV) sync --frozen --quiet
	@touch $@

setup: $(VENV)/.synced

run: setup ## migrate, load reference data, start registry :8001, workflow :8002, scoring :8003
	@$(PY) -m services.run

test: setup ## types (mypy), then the whole suite, SQLite and (when reachable; always in CI) PostgreSQL
	@$(VENV)/bin/mypy shared services
	@$(PY) -m pytest $(PYTEST_ARGS)

bench: bench-registry bench-scoring bench-evaluation bench-uncertainty bench-workflow ## every benchmark under bench/, printing its figures

bench-registry: setup ## registry reads against a bare endpoint
	@$(PY) bench/registry_read.py

bench-scoring: setup ## scoring: a national year (2,600 zones) posted as JSON/XLSX against COPY; indicators
	@$(PY) bench/scoring_intake.py $(BENCH_ARGS)

bench-evaluation: setup ## the default method on 100/1,000/10,000 synthetic zones against plain NumPy; then POST /evaluations end to end (uvicorn, PostgreSQL when reachable) and the README's uncertainty request
	@$(PY) bench/scoring_evaluation.py $(BENCH_ARGS)

bench-uncertainty: setup ## Monte Carlo: 1,000 replications × 200 zones, and COINr's ASEM specification
	@$(PY) bench/scoring_uncertainty.py

bench-workflow: setup ## PostgreSQL: 200 applications through the whole process, transitions/s and p99
	@$(PY) bench/workflow_transitions.py

lint: setup
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/mypy shared services

token: setup ## make token ROLE=st_department [LEAGUE=150200] [SUB=alice]
	@$(PY) -m services.token $(ROLE) $(if $(LEAGUE),--league $(LEAGUE)) $(if $(SUB),--sub $(SUB))

clean:
	rm -rf var .pytest_cache
