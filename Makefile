# semtrace: the two commands a newcomer needs.
#   make test   set up everything (venv, dependencies, Docker engine + sandbox image, local model) and run the tests
#   make demo   set up what the demo needs and run a repair agent on the bundled demo benchmark with the local model
# Both are idempotent: a second run skips what is already in place.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
EXTRAS := dev,docker,openai,anthropic,local
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
PYTEST_ARGS ?=

.PHONY: test demo setup venv deps docker clean-containers help

help:
	@echo "make test   # set up everything and run the test suite"
	@echo "make demo   # repair the bundled demo benchmark with the bundled local model, print the results table"

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# llama-cpp-python compiles from source the first time (2-5 minutes); pip caches the wheel afterwards.
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
$(STAMP): pyproject.toml | $(PY)
	@command -v g++ >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq build-essential; }
	$(PY) -m pip install -q -e '.[$(EXTRAS)]'
	rm -f $(VENV)/.installed-* && touch $(STAMP)

venv: $(PY)
deps: $(STAMP)

# Docker engine, daemon and the offline sandbox image (debootstrap + import; no registry needed).
docker: deps
	PYTHON=$(PY) bash .ci/docker.sh

setup: deps docker

test: setup
	$(PY) -m pytest -q $(PYTEST_ARGS)

demo: deps
	-PYTHON=$(PY) bash .ci/docker.sh || echo "Docker is not available here; the demo uses the local sandbox"
	$(VENV)/bin/semtrace run

clean-containers: deps
	$(PY) -m semtrace.cli sandbox cleanup
