# Two commands a new user needs: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_STORE ?= data/runs
DEMO_RUN_ID ?= demo

# Environment defaults (offline price map, Prefect settings...) live in flows/environment.py, which
# the CLI and tests/conftest.py import first: none are repeated here.
# The install is quiet: -qq keeps pip's errors but drops its warnings (e.g. index locations a
# machine's pip.conf names), and setuptools' "Editable installation" banner is a Python warning
# of the build backend, silenced by message.
PIP_QUIET := PYTHONWARNINGS="ignore:Editable installation" $(BIN)/python -m pip install -qq

.PHONY: demo test test-slow venv bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@echo "creating $(VENV) and installing patflow with pinned dependencies (constraints.txt)..."
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(PIP_QUIET) --upgrade pip
	@$(PIP_QUIET) -c constraints.txt -e '.[test]'
	@touch $(STAMP)

# standard on the small and the large simulated model, pat (small generator, large planner)
# on all 164 HumanEval problems, one seed each (BENCHMARKS.md, "Policies": the wall time on 2
# cores), and funcoder on the small model alone (one model, as its authors ran it).
demo: $(STAMP)
	$(BIN)/patflow run --benchmark humaneval \
		--policy standard --policy standard:generator=sim/large --policy pat --policy funcoder \
		--generator sim/small --planner sim/large --seeds 1 --reference-generator sim/large \
		--store $(DEMO_STORE) --run-id $(DEMO_RUN_ID) --overwrite

test: $(STAMP)
	$(BIN)/python -m pytest -q

# Real-process scale tests (SIGKILL and resume, an external Dask cluster losing a worker):
# minutes, not seconds. CI runs them after `make test`.
test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow tests/scale

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test,bench]'
	$(BIN)/python benchmarks/sandbox_bench.py
	$(BIN)/python benchmarks/llm_bench.py

clean:
	rm -rf $(VENV) data/runs
