# One entry point. `make test` and `make demo` install what they need themselves.
SHELL := /bin/bash
.DEFAULT_GOAL := help

.PHONY: help venv testhost lint test unit molecule build demo demo-down kube-build kube-up kube-down kube-status clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

venv: ## Create .venv with the pinned toolchain and unpack the collections (no Galaxy)
	@bash scripts/bootstrap.sh

testhost: ## Install podman/runc/debootstrap if missing and build the test-host image once
	@bash scripts/testhost.sh image

lint: ## yamllint and ansible-lint (production profile)
	@bash scripts/test.sh lint

test: ## Every test: lint, syntax checks, pytest (plugins, apps, collection build), molecule
	@bash scripts/test.sh

unit: ## pytest only
	@bash scripts/test.sh pytest

molecule: ## Molecule scenarios only (MOLECULE_SCENARIOS="a b" to pick)
	@bash scripts/test.sh molecule

build: venv ## Build dsa-platform-<version>.tar.gz
	@.venv/bin/ansible-galaxy collection build --force .

demo: ## The whole loop on this machine: local nodes, site.yml, smoke benchmark, report
	@bash scripts/demo.sh up

demo-down: ## Remove the local nodes and everything the demo started
	@bash scripts/demo.sh down

kube-build: ## Build (or reuse the cached) local Kubernetes binaries (LEVEL=api|node)
	@scripts/localkube build --level $(or $(LEVEL),node)

kube-up: ## Start the local Kubernetes (LEVEL=api|node, default api) and print its kubeconfig
	@scripts/localkube up --level $(or $(LEVEL),api)

kube-down: ## Stop the local Kubernetes and remove everything it started
	@scripts/localkube down

kube-status: ## Show what the local Kubernetes runs
	@scripts/localkube status

clean: ## Remove the venv, caches and build output (keeps the test-host image)
	rm -rf .venv .cache dsa-platform-*.tar.gz
