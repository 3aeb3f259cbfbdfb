# Everything a fresh machine needs is built here from registries: Rust crates, the Kubernetes
# control plane from Go modules, botocore from PyPI.
SHELL := bash
VENV := .cache/venv

.PHONY: demo test lint unit python go-tests static tools crd manifests image hostile-worst-case

## The operator's main job locally: control plane + AppFlow emulator + operator + samples.
demo:
	hack/demo/run.sh

## The whole test suite: lint, unit, integration, end-to-end (incl. helm), botocore, the
## Argo CD health check, and the static release binary the image ships.
test: tools lint unit python go-tests static

tools:
	hack/controlplane/build.sh
	hack/helm/build.sh
	@test -x $(VENV)/bin/python || python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt

# The test suite's builds carry fail points (`--features failpoints`); release builds never do.
TEST_FEATURES := --features appflow-connector-operator/failpoints

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets $(TEST_FEATURES) -- -D warnings

unit:
	cargo test --workspace $(TEST_FEATURES)

python:
	cargo build -p appflow-emulator
	$(VENV)/bin/python -m pytest -q -p no:cacheprovider tests/python

go-tests:
	cd hack/argocd && GOTOOLCHAIN=local go test ./...

## The release binary as the Dockerfile builds it (fully static), checked and measured.
static:
	hack/build-static.sh

## The most AWS calls and status writes one tenant's object can cause in a minute (measured).
hostile-worst-case:
	hack/hostile/worst-case.sh

## Regenerate the CRD from the Rust types, then the chart's copy and deploy/manifests
## (tests fail when any of them drift).
crd:
	cargo run --quiet -- crd > crds/connectorinfos.appflow.connectorinfo.dev.yaml
	hack/render-manifests.sh

manifests:
	hack/render-manifests.sh

image:
	docker build -t appflow-connector-operator:0.1.0 .
