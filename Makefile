# `make train` / `make test` create the environment on first use.
# torch is pinned to the CPU wheel first, so pip never pulls a multi-GB CUDA build.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
TORCH ?= torch==2.13.0
ARGS ?=

.PHONY: install train evaluate test test-slow test-all clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check "$(TORCH)"
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

train: $(STAMP)
	$(PY) train.py $(ARGS)

evaluate: $(STAMP)
	$(PY) evaluate.py $(ARGS)

test: $(STAMP)
	$(PY) -m pytest

# Long tests (deselected by default); exit status 5 = none collected.
test-slow: $(STAMP)
	$(PY) -m pytest -m slow || [ $$? -eq 5 ]

test-all: test test-slow

clean:
	rm -rf logs outputs multirun .pytest_cache
