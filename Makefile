# The first target run on a fresh machine creates .venv and installs jobsim into it.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

SCENARIO ?= black_friday
SEED     ?=
VARIANT  ?=
BROKER   ?= memory
SIM_ARGS := $(if $(SEED),--seed $(SEED)) $(if $(VARIANT),--variant $(VARIANT)) --broker $(BROKER)

.PHONY: install test test-slow lint bench simulate report validate property-nightly mutants clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# make test: everything but the tests marked slow (full-scale runs, big fuzz budgets, shrunk
# negative controls), within its 10-minute budget on 2 cores. make test-slow runs only
# those; CI (.ci/run) runs both.
test: $(STAMP)
	$(BIN)/ruff check .
	HYPOTHESIS_PROFILE=ci $(BIN)/pytest -q -m "not slow" tests

test-slow: $(STAMP)
	HYPOTHESIS_PROFILE=ci $(BIN)/pytest -q -m slow tests

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check . || true

bench: $(STAMP)
	$(BIN)/jobsim bench

simulate: $(STAMP)
	$(BIN)/jobsim simulate $(SCENARIO) $(SIM_ARGS)

report: $(STAMP)
	$(BIN)/jobsim report retries --force

validate: $(STAMP)
	$(BIN)/jobsim validate

property-nightly: $(STAMP)
	HYPOTHESIS_PROFILE=nightly $(BIN)/pytest -q tests/properties

# Nightly, not part of make test: plants each bug of tests/mutants/*.patch in a copy of
# the tree and reports which scenario check or property test catches it.
mutants: $(STAMP)
	$(BIN)/python tests/mutants/run.py

clean:
	rm -rf $(VENV) .hypothesis reports/*/
