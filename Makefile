# The companion's commands. `make book` and `make test` set up .venv from nothing (Python 3.11),
# from the committed, hashed lock file (requirements-test.txt; `make lock` regenerates it).
# Logic lives in Python (python -m mftransformer ...); these targets are thin.

PYTHON   ?= python3.11
VENV     := .venv
PY       := $(VENV)/bin/python
PARAMS   ?= ci
CH       ?= all
STAMP    := $(VENV)/.installed-stamp
PYTEST   := $(PY) -m pytest
# Lock files: Linux x86-64, Python 3.11, every distribution hashed. LOCK_BINDER holds the package
# and its `book` extra (Binder, environment.yml); LOCK_TEST adds the `test` and `dev` extras.
LOCK_BINDER := requirements.txt
LOCK_TEST   := requirements-test.txt
LOCK_FLAGS  := --generate-hashes --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
               --custom-compile-command "make lock" --cache-dir .cache/uv --quiet

# tcmalloc makes float64 JAX runs up to 3x faster than glibc's allocator (ARCHITECTURE.md).
TCMALLOC := $(firstword $(wildcard /usr/lib/*/libtcmalloc_minimal.so.4))
export LD_PRELOAD := $(TCMALLOC)
export MPLBACKEND := Agg
export PYDEVD_DISABLE_FILE_VALIDATION := 1

.PHONY: book test chapter figures bench serve clean venv system-deps unit nbval site-tests \
        estimate sweep \
        lock test-binder test-colab test-pythons test-envs

# Exactly the locked set (hash-checked), then the package itself without resolving again.
# DEPS=ranges resolves pyproject's open ranges afresh instead (the weekly drift build; any Python).
DEPS ?= lock
$(STAMP): pyproject.toml $(LOCK_TEST)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
ifeq ($(DEPS),ranges)
	$(PY) -m pip install --quiet --upgrade -e ".[book,test,dev]"
	$(PY) -m pip freeze --exclude-editable > $(VENV)/resolved-requirements.txt
else
	$(PY) -m pip install --quiet --require-hashes -r $(LOCK_TEST)
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
endif
	@touch $(STAMP)

## Regenerate both lock files from pyproject.toml (after changing a dependency or its range).
lock: $(STAMP)
	@mkdir -p .cache/lock
	$(PY) -c "import tomllib; print(*tomllib.load(open('pyproject.toml','rb'))['build-system']['requires'], sep='\n')" > .cache/lock/build.in
	$(PY) -m uv pip compile pyproject.toml .cache/lock/build.in --extra book $(LOCK_FLAGS) -o .cache/lock/binder.txt
	$(PY) -m uv pip compile pyproject.toml .cache/lock/build.in --extra book --extra test --extra dev $(LOCK_FLAGS) -o .cache/lock/test.txt
	{ echo "# Lock file: Linux x86-64, Python 3.11; the package and its book extra (Binder: environment.yml)."; cat .cache/lock/binder.txt; } > $(LOCK_BINDER)
	{ echo "# Lock file: Linux x86-64, Python 3.11; the package and its book, test and dev extras (make, CI)."; cat .cache/lock/test.txt; } > $(LOCK_TEST)
	$(PYTEST) -q -o addopts="" tests/pipeline/test_lock.py

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

## Execute every chapter with PARAMS (default ci) and build the HTML site; FORCE=1 re-executes
## chapters whose cached results are still valid. The estimate is printed first; on a CPU a run
## estimated above an hour (PARAMS=full) starts only with YES=1.
book: $(STAMP)
	$(PY) -m mftransformer book --params $(PARAMS) $(if $(FORCE),--force) $(if $(YES),--yes)

## Execute one chapter: make chapter CH=03 [PARAMS=full]
chapter: $(STAMP)
	$(PY) -m mftransformer run --chapter $(CH) --params $(PARAMS) $(if $(YES),--yes)

## Execute all chapters (every figure and its data) without building the site.
figures: $(STAMP)
	$(PY) -m mftransformer figures --params $(PARAMS) $(if $(YES),--yes)

## Memory peak and time of each experiment on this CPU and an H200: make estimate CH=03 PARAMS=full
estimate: $(STAMP)
	$(PY) -m mftransformer estimate --chapter $(CH) --params $(PARAMS)

## One experiment over seeds into the results store (book/_build/cache/results), e.g.
## make sweep CH=03 EXP=meanfield SEEDS=8 EXECUTOR=slurm PARAMS=full
EXECUTOR ?= local
SEEDS    ?= 1
sweep: $(STAMP)
	$(PY) -m mftransformer sweep --chapter $(CH) --experiment $(EXP) --seeds $(SEEDS) \
	  --params $(PARAMS) --executor $(EXECUTOR)

## Speed and memory benchmarks (ratios measured in one run; JSON in benchmarks/results/).
bench: $(STAMP)
	@# the `bench` extra (one exact CPU build of PyTorch, for the peer comparison); best effort:
	@# without it the PyTorch column is skipped with a message
	-$(PY) -m pip install --quiet $$($(PY) -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['project']['optional-dependencies']['bench'])")
	$(PY) -m mftransformer bench

## Unit, property, reference and rate tests; the book (ci, always re-executed: a test never passes
## on a cached result); nbval on the executed chapters; site tests.
test: $(STAMP) system-deps
	$(MAKE) --no-print-directory unit
	$(MAKE) --no-print-directory book PARAMS=ci FORCE=1
	$(MAKE) --no-print-directory nbval
	$(MAKE) --no-print-directory site-tests

unit: $(STAMP)
	$(PYTEST) -m "not site and not envbuild" tests

nbval: $(STAMP)
	TQDM_DISABLE=1 $(PYTEST) --nbval-lax --nbval-current-env book/chapters -o addopts="" -q

site-tests: $(STAMP)
	$(PYTEST) -m site tests; rc=$$?; if [ $$rc -eq 5 ]; then echo "no site tests collected"; exit 0; fi; exit $$rc

## Opt-in, slow (fresh environments, package installs): the Binder environment as repo2docker
## builds it, then chapter 4 in it; the Colab install cell on Python 3.13; the unit tests and
## chapter 4 on Python 3.12 and 3.13 (check lines compared with 3.11's). Missing interpreters skip.
## Their environments live in .cache/envs/ (rebuilt when their inputs change; MFT_FRESH_ENVS=1
## always), pip's downloads in .cache/pip/ (or $$PIP_CACHE_DIR).
test-binder: $(STAMP)
	$(PYTEST) -m envbuild tests/pipeline/test_binder.py

test-colab: $(STAMP)
	$(PYTEST) -m envbuild tests/pipeline/test_colab.py

test-pythons: $(STAMP)
	$(PYTEST) -m envbuild tests/pipeline/test_pythons.py

test-envs: test-binder test-colab test-pythons

serve: $(STAMP)
	$(PY) -m http.server --directory book/_build/html 8000 --bind 127.0.0.1

clean:
	rm -rf book/_build book/chapters book/_generated book/_static/figures .pytest_cache
