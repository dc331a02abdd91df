# `make run` and `make test` each bootstrap a local .venv from pyproject.toml, then do their job.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-explore test-measure trace bench screenshots clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/vramtui $(ARGS)

test: $(STAMP)
	$(BIN)/ruff check vramtui tests scripts bench
	$(BIN)/mypy
	$(BIN)/python -m pytest -m "not measure" $(PYTEST_ARGS)

# The property tests with fresh random examples, 1500 per test (several minutes): hunts new edge cases.
test-explore: $(STAMP)
	HYPOTHESIS_PROFILE=explore HYPOTHESIS_EXAMPLES=1500 $(BIN)/python -m pytest $(PYTEST_ARGS) \
		tests/test_properties.py tests/test_robustness.py

# The measure harness on a tiny CPU model. torch 2.13.0's CPU build lies on this project's machines;
# elsewhere pip downloads it. GPU machines install `.[measure]` with their own CUDA torch instead.
MEASURE_STAMP := $(VENV)/.measure-installed
$(MEASURE_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet 'torch==2.13.0' -e '.[test,measure]'
	touch $(MEASURE_STAMP)

test-measure: $(MEASURE_STAMP)
	$(BIN)/python -m pytest -m measure $(PYTEST_ARGS)

# What PyTorch saves and allocates in a training step of small models, on the CPU: the source of the
# estimator's activation and optimizer constants (validation/traces/cpu-trace.json, tests/test_traces.py).
trace: $(MEASURE_STAMP)
	$(BIN)/python scripts/trace_memory.py

bench: $(STAMP)
	$(BIN)/python bench/run.py

screenshots: $(STAMP)
	$(BIN)/python scripts/screenshots.py

clean:
	rm -rf $(VENV) build dist .pytest_cache
