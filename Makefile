# semtrace: the two commands a newcomer needs.
#   make test   set up everything (venv, dependencies, Docker engine + sandbox image, local model) and run the tests
#   make demo   set up what the demo needs and run a repair agent on the bundled demo benchmark with the local model
# Both are idempotent: a second run skips what is already in place.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
EXTRAS := dev,docker,openai,anthropic,local,ray
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
PYTEST_ARGS ?=

.PHONY: test test-train demo setup venv deps docker browser clean-containers help

help:
	@echo "make test   # set up everything and run the test suite"
	@echo "make demo   # repair the bundled demo benchmark with the bundled local model, print the results table"
	@echo "make test-train  # install the train extra (torch: ~3 GB) and run the SFT trainer smoke test"

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# llama-cpp-python compiles from source the first time (2-5 minutes); pip caches the wheel afterwards.
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# A build for the host CPU (-march=native) can die with SIGILL on virtual machines that advertise AVX-512 without
# enabling it, and pip's wheel cache hands such a build to every later venv. So the bundled model is run once here
# (.ci/llama_check.py); if that fails, llama-cpp-python is rebuilt for a portable x86-64 baseline (AVX2, no
# AVX-512) into $(WHEELS) — once per machine, bypassing pip's cache — and installed from there.
LLAMA_PORTABLE := -DGGML_NATIVE=OFF -DGGML_AVX512=OFF
WHEELS ?= $(HOME)/.cache/semtrace-wheels
LLAMA_VERSION = $$($(PY) -c 'import importlib.metadata as m; print(m.version("llama-cpp-python"))')
$(STAMP): pyproject.toml | $(PY)
	@command -v g++ >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq build-essential; }
	$(PY) -m pip install -q -e '.[$(EXTRAS)]'
	@$(PY) .ci/llama_check.py || { \
	  v=$(LLAMA_VERSION); dir="$(WHEELS)/portable-$$v"; \
	  echo "llama-cpp-python $$v cannot run on this CPU; installing a portable build ($$dir)"; \
	  ls "$$dir"/llama_cpp_python-*.whl >/dev/null 2>&1 || \
	    CMAKE_ARGS="$(LLAMA_PORTABLE)" $(PY) -m pip wheel -q --no-deps --no-cache-dir -w "$$dir" "llama-cpp-python==$$v"; \
	  $(PY) -m pip install -q --no-deps --force-reinstall "$$dir"/llama_cpp_python-*.whl && $(PY) .ci/llama_check.py; }
	rm -f $(VENV)/.installed-* && touch $(STAMP)

venv: $(PY)
deps: $(STAMP)

# Docker engine, daemon and the offline sandbox image (debootstrap + import; no registry needed).
docker: deps
	PYTHON=$(PY) bash .ci/docker.sh

# Headless Chromium (Debian package) for the viewer's browser test.
browser:
	bash .ci/browser.sh

setup: deps docker browser

test: setup
	$(PY) -m pytest -q $(PYTEST_ARGS)

# The SFT trainer's smoke test (tests/sft/test_train.py, marker `train`, deselected by default): the train extra
# pulls torch with ~3 GB of CUDA wheels from PyPI (about 5 minutes to install), so it is kept out of `make test`.
test-train: deps
	$(PY) -m pip install -q -e '.[train]'
	$(PY) -m pytest -q -m train $(PYTEST_ARGS)

# The demo's run goes to $(DEMO_RUN); a second `make demo` resumes it (nothing left to do: the same table again).
# It ends by writing the HTML report and trajectory viewer of that run and printing how to open it.
DEMO_RUN ?= runs/demo
demo: deps
	-PYTHON=$(PY) bash .ci/docker.sh || echo "Docker is not available here; the demo uses the local sandbox"
	@if [ -f $(DEMO_RUN)/config.yaml ]; then $(VENV)/bin/semtrace run --resume $(DEMO_RUN); \
	else $(VENV)/bin/semtrace run --out $(DEMO_RUN); fi
	$(VENV)/bin/semtrace view $(DEMO_RUN) --out $(DEMO_RUN)-view

clean-containers: deps
	$(PY) -m semtrace.cli sandbox cleanup
