# The companion's commands. `make book` and `make test` set up .venv from nothing (Python 3.11).
# Logic lives in Python (python -m mftransformer ...); these targets are thin.

PYTHON   ?= python3.11
VENV     := .venv
PY       := $(VENV)/bin/python
PARAMS   ?= ci
CH       ?= all
STAMP    := $(VENV)/.installed-stamp
PYTEST   := $(PY) -m pytest

# tcmalloc makes float64 JAX runs up to 3x faster than glibc's allocator (ARCHITECTURE.md).
TCMALLOC := $(firstword $(wildcard /usr/lib/*/libtcmalloc_minimal.so.4))
export LD_PRELOAD := $(TCMALLOC)
export MPLBACKEND := Agg
export PYDEVD_DISABLE_FILE_VALIDATION := 1

.PHONY: book test chapter figures bench serve clean venv system-deps unit nbval site-tests

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[book,test,dev]"
	$(PY) -m pip freeze --exclude-editable > $(VENV)/resolved-requirements.txt
	@touch $(STAMP)

venv: $(STAMP)

## Best effort (needs root and apt): tcmalloc for speed, Chromium for the browser test.
system-deps:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  missing=""; \
	  [ -n "$(TCMALLOC)" ] || missing="$$missing libtcmalloc-minimal4"; \
	  command -v chromium >/dev/null || missing="$$missing chromium"; \
	  if [ -n "$$missing" ]; then \
	    (apt-get install -y -q $$missing >/dev/null 2>&1 || \
	     (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q $$missing >/dev/null 2>&1)) \
	    || echo "note: could not install$$missing (tests that need them will skip)"; \
	  fi; \
	else echo "note: not root or no apt-get; skipping system packages (tcmalloc, chromium)"; fi

## Execute every chapter with PARAMS (default ci) and build the HTML site.
book: $(STAMP)
	$(PY) -m mftransformer book --params $(PARAMS)

## Execute one chapter: make chapter CH=03 [PARAMS=full]
chapter: $(STAMP)
	$(PY) -m mftransformer run --chapter $(CH) --params $(PARAMS)

## Execute all chapters (every figure and its data) without building the site.
figures: $(STAMP)
	$(PY) -m mftransformer figures --params $(PARAMS)

## Speed and memory benchmarks (ratios measured in one run; JSON in benchmarks/results/).
bench: $(STAMP)
	$(PY) -m mftransformer bench

## Unit, property, reference and rate tests; the book (ci); nbval on the executed chapters; site tests.
test: $(STAMP) system-deps
	$(MAKE) --no-print-directory unit
	$(MAKE) --no-print-directory book PARAMS=ci
	$(MAKE) --no-print-directory nbval
	$(MAKE) --no-print-directory site-tests

unit: $(STAMP)
	$(PYTEST) -m "not site" tests

nbval: $(STAMP)
	TQDM_DISABLE=1 $(PYTEST) --nbval-lax --nbval-current-env book/chapters -o addopts="" -q

site-tests: $(STAMP)
	$(PYTEST) -m site tests; rc=$$?; if [ $$rc -eq 5 ]; then echo "no site tests collected"; exit 0; fi; exit $$rc

serve: $(STAMP)
	$(PY) -m http.server --directory book/_build/html 8000 --bind 127.0.0.1

clean:
	rm -rf book/_build book/chapters book/_generated book/_static/figures .pytest_cache
