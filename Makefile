# The whole set-up is these targets: each creates or reuses .venv in the repository root.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
PYTEST_ARGS ?=

.PHONY: install run test test-all bench faults clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

## make run: the whole stack on local defaults (Tansu broker, local PostgreSQL, the four services)
run: $(STAMP)
	$(PY) -m deploy.local_stack

## make test: the default suite (real broker and database; see README "Tests")
test: $(STAMP)
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

test-all: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

## make bench: rates beside this machine's limits, in one run (writes bench/results/latest.json)
# The Quix Streams peer pins pydantic < 2.14, so it gets a virtual environment of its own.
QUIX_VENV := .venv-quix
$(QUIX_VENV)/.installed:
	python3 -m venv $(QUIX_VENV)
	$(QUIX_VENV)/bin/python -m pip install -q quixstreams==3.28.1
	touch $@

bench: $(STAMP) $(QUIX_VENV)/.installed
	QUIX_PYTHON=$(QUIX_VENV)/bin/python $(PY) -m bench $(BENCH_ARGS)

## make faults: fault injection against the real processes; writes docs/RELIABILITY.md
faults: $(STAMP)
	$(PY) -m faults $(FAULTS_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache
