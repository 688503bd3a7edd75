# phototalk — the README's commands are `make test`, `make run` and `make playground`.
SHELL := /bin/bash
PYTHON ?= $(shell for p in python3.11 python3.12 python3; do \
	if command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; assert (3, 11) <= sys.version_info[:2] < (3, 13)' 2>/dev/null; then echo $$p; break; fi; done)
VENV := .venv
PY := $(VENV)/bin/python
export TEST_DATABASE_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/test

.PHONY: run playground demo test lint bench migrate worker clean gpu

$(PY):
	@test -n "$(PYTHON)" || { echo "phototalk needs Python 3.11 or 3.12 (python3.11 / python3.12 on PATH)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(PY)
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[dev]'
	touch $(VENV)/.installed $@

$(VENV)/.installed-gpu: pyproject.toml | $(VENV)/.installed-dev
	$(PY) -m pip install -q -e '.[dev,gpu]'
	touch $@

## gpu: add the gpu extra (torch) for ENGINE=torch-rig; `make test` then runs its parity tests too
gpu: $(VENV)/.installed-gpu

## run: install, apply migrations, start the bot (SQLite under ./data, in-process CPU render worker)
run: $(VENV)/.installed
	$(PY) -m bot run

## playground: the real bot against a local Telegram emulator, chatted with in the browser — no token, no network
playground: $(VENV)/.installed
	$(PY) -m playground

## demo: render out/demo.mp4 from a sample photo and offline TTS — no token, no network
demo: $(VENV)/.installed-dev
	$(PY) -m generator demo -o out/demo.mp4

## test: the whole suite, lint and type check included, on SQLite and the PostgreSQL at $$TEST_DATABASE_URL
test: lint
	$(PY) -m pytest

## lint: ruff, and mypy (strict on storage/ and generator/, see pyproject.toml)
lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy bot generator storage playground

migrate: $(VENV)/.installed
	$(PY) -m bot migrate

worker: $(VENV)/.installed
	$(PY) -m bot worker

bench: $(VENV)/.installed-dev
	$(PY) bench/render.py
	$(PY) bench/claims.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
