# Two commands a new user needs: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_STORE ?= data/runs
DEMO_RUN_ID ?= demo

export LITELLM_LOCAL_MODEL_COST_MAP := True
export HF_HUB_OFFLINE := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS := 90

.PHONY: demo test test-slow venv bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/patflow run --benchmark humaneval \
		--policy standard --policy pat --policy standard:generator=sim/large \
		--generator sim/small --planner sim/large --seeds 2 --reference-generator sim/large \
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
