# xero-bridge — every command a developer, the demo and CI need. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Singer's tap-xero pins old libraries: its own virtualenv, inside .venv so `make clean` removes it too.
TAP_VENV := $(VENV)/tap-xero
TAP_STAMP := $(TAP_VENV)/.installed
TAP_REQUIREMENTS := tests/contract/clients/tap-xero-requirements.txt

# Xero emulator (make xero)
PORT ?= 8765
CLIENT_ID ?= xero-bridge-local
CLIENT_SECRET ?= local-client-secret
REDIRECT_URI ?= http://127.0.0.1:3000/callback
WEBHOOK_URL ?=
WEBHOOK_KEY ?= local-webhook-key
SEED ?= small
CHAOS_SEED ?= 1 2 3
CHAOS_ORGS ?= 3

# Local stack (make start / make invoke). The API key and the SigV4 access key pair are local-only
# defaults: in AWS the AR backend signs with its own role's credentials and the stack's API key.
API_PORT ?= 3000
XERO_PORT ?= 8765
API_KEY ?= local-api-key
API_ACCESS_KEY_ID ?= AKIAXEROBRIDGELOCAL1
API_SECRET_ACCESS_KEY ?= local-api-secret-access-key
FUNCTION ?=
PREPARE ?=
EVENT ?=
ENV_VARS ?=
BENCH ?=

export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml layers/shared/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r layers/shared/requirements.txt --group dev --group sam
	touch $(STAMP)

$(TAP_STAMP): $(TAP_REQUIREMENTS)
	$(PYTHON) -m venv $(TAP_VENV)
	$(TAP_VENV)/bin/pip install --quiet --upgrade pip
	$(TAP_VENV)/bin/pip install --quiet -r $(TAP_REQUIREMENTS)
	touch $(TAP_STAMP)

.PHONY: install
install: $(STAMP) $(TAP_STAMP) ## Create .venv (and .venv/tap-xero) and install everything the project needs

.PHONY: lint
lint: $(STAMP) ## ruff (lint + format check) and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

.PHONY: format
format: $(STAMP) ## Format and autofix with ruff
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

.PHONY: validate
validate: $(STAMP) ## sam validate --lint on template.yaml
	$(BIN)/sam validate --lint --region eu-west-1

.PHONY: build
build: $(STAMP) ## sam build (the layer as cp313 aarch64 wheels, the functions)
	$(BIN)/sam build --region eu-west-1

.PHONY: test
test: lint validate build $(TAP_STAMP) ## Lint, validate and build the template, then every test
	$(BIN)/pytest

.PHONY: openapi
openapi: $(STAMP) ## Regenerate docs/openapi.json (and the layer's copy) from the API functions and the template
	PYTHONPATH=layers/shared:. $(PY) -m tools.openapi

.PHONY: bench
bench: $(STAMP) ## Benchmarks, figures not assertions: make bench [BENCH=cold_import|client|emulator|...]
	PYTHONPATH=layers/shared:emulator:. $(PY) -m tests.bench $(BENCH)

.PHONY: chaos
chaos: $(STAMP) ## Every flow at once under random faults and killed Lambdas, then verified: make chaos [CHAOS_SEED="1 2 3"] [CHAOS_ORGS=3]
	PYTHONPATH=layers/shared:emulator:. $(PY) -m tools.chaos --seed $(CHAOS_SEED) --orgs $(CHAOS_ORGS)

.PHONY: xero
xero: $(STAMP) ## Run the Xero emulator alone: make xero PORT=8765 SEED=small|large|none
	PYTHONPATH=emulator $(PY) -m xero_emulator --port $(PORT) --client-id '$(CLIENT_ID)' \
	  --client-secret '$(CLIENT_SECRET)' --redirect-uri '$(REDIRECT_URI)' --webhook-url '$(WEBHOOK_URL)' \
	  --webhook-key '$(WEBHOOK_KEY)' --seed $(SEED)

.PHONY: start
start: $(STAMP) ## Local stack + emulator: API on 127.0.0.1:$(API_PORT), Xero on $(XERO_PORT)
	$(PY) -m tools.local_stack start --api-port $(API_PORT) --xero-port $(XERO_PORT) --api-key '$(API_KEY)' \
	  --api-access-key-id '$(API_ACCESS_KEY_ID)' --api-secret-access-key '$(API_SECRET_ACCESS_KEY)'

.PHONY: invoke
invoke: $(STAMP) ## Docker-free sam local invoke: make invoke FUNCTION=... EVENT=... [ENV_VARS=...] [PREPARE=1]
	@PYTHONPATH=layers/shared:emulator:. $(PY) -m tools.local_stack invoke '$(FUNCTION)' --event '$(EVENT)' \
	  $(if $(ENV_VARS),--env-vars '$(ENV_VARS)') $(if $(PREPARE),--prepare)

.PHONY: demo
demo: $(STAMP) ## Play the whole product locally and print what happened
	PYTHONPATH=layers/shared:emulator:. $(PY) -m tools.demo

.PHONY: deploy
deploy: build ## sam deploy (guided the first time): make deploy [SAM_ENV=prod]
	$(BIN)/sam deploy --config-env $(or $(SAM_ENV),default)

.PHONY: clean
clean: ## Remove build output and the virtual environment
	rm -rf .aws-sam $(VENV)
