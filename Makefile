# Everything a fresh machine needs is built here from registries: Rust crates, the Kubernetes
# control plane from Go modules, botocore from PyPI.
SHELL := bash
VENV := .cache/venv

.PHONY: demo test lint unit python tools crd

## The operator's main job locally: control plane + AppFlow emulator + operator + samples.
demo:
	hack/demo/run.sh

## The whole test suite: lint, unit, integration, end-to-end, botocore.
test: tools lint unit python

tools:
	hack/controlplane/build.sh
	@test -x $(VENV)/bin/python || python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

unit:
	cargo test --workspace

python:
	cargo build --bin appflow-connector-operator
	$(VENV)/bin/python -m pytest -q -p no:cacheprovider tests/python

## Regenerate the CRD from the Rust types (a test fails when they drift).
crd:
	cargo run --quiet -- crd > crds/connectorinfos.appflow.connectorinfo.dev.yaml
