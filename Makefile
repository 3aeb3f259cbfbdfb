# Everything a fresh machine needs is built here from registries: Rust crates, the Kubernetes
# control plane from Go modules, botocore from PyPI.
SHELL := bash
VENV := .cache/venv
# The test suite's builds carry fail points (`--features failpoints`); release builds never do.
# Every test step builds the whole workspace with the same features, so cargo resolves the
# dependencies once and no step rebuilds what another built.
TEST_FEATURES := --workspace --features appflow-connector-operator/failpoints

.PHONY: demo demo-cluster test tools lint unit integration e2e compat python go-tests static release-check hostile-worst-case bench bench-budget \
	soak crd manifests image release-local docs fuzz fuzz-smoke upgrade-test

## The operator's main job locally: control plane + AppFlow emulator + operator + samples.
demo:
	hack/demo/run.sh

## The same on a real node: the image built with buildah, helm install, pods on containerd.
demo-cluster:
	hack/demo/cluster.sh

## The whole test suite: lint, unit, integration (with every fuzz target on its committed seeds),
## the static x86_64 release binary and the amd64 image that ships it, the release files,
## end-to-end on Kubernetes 1.37 (incl. the compat tier, helm and the upgrade from the last
## release's chart, and helm install from a loopback OCI registry onto a real node, signatures
## verified), botocore, the Argo CD health check. What it leaves to CI jobs of their own (fuzzing,
## the aarch64 build, the other Kubernetes versions): docs/testing.md, "What runs where".
test: tools lint unit integration static e2e python go-tests

## What `make test` needs: buildah, containerd, runc, the CNI plugins and shellcheck from Debian's
## packages; cargo-cyclonedx from crates.io; the Kubernetes control plane and node components,
## helm, promtool, cosign, crane, actionlint and krew from Go modules (and the Prometheus
## Operator's CRDs from its module); boto3 in a venv. `make release-check` adds the aarch64 cross
## gcc and qemu-user-static, `make fuzz` cargo-fuzz and the nightly toolchain.
tools:
	hack/node/install.sh
	RELEASE_PLATFORMS=amd64 hack/release/install.sh
	hack/release/tools/build.sh
	hack/controlplane/build.sh
	hack/helm/build.sh
	hack/monitoring/build.sh
	@test -x $(VENV)/bin/python || python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt

## Formatting and clippy (warnings are errors), tests and fail points included; shellcheck on
## every script under hack/, following what they source (installed by `make tools`); no
## function over 60 lines.
lint:
	cargo fmt --all -- --check
	cargo clippy --all-targets $(TEST_FEATURES) -- -D warnings
	cargo clippy --test e2e $(TEST_FEATURES) -- -D warnings
	cargo fmt --manifest-path fuzz/Cargo.toml -- --check
	shellcheck -S warning -x $(shell find hack -name '*.sh' | LC_ALL=C sort)
	python3 hack/long-functions.py

## Unit tests only: the pure core, the CLI and the emulator's modules; no network, no processes.
unit:
	cargo test --lib --bins $(TEST_FEATURES)

## The real aws-sdk-appflow against the emulator, `describe` and `check` as processes, and
## `reconcile` against a mocked API server; no control plane.
integration:
	cargo test --test sdk --test integration $(TEST_FEATURES)

## End to end on a real kube-apiserver + etcd: the operator and the emulator as processes,
## kubectl, and the Helm chart.
e2e:
	cargo build --bins $(TEST_FEATURES)
	cargo test --test e2e $(TEST_FEATURES)

## The compat tier (tests/e2e/compat.rs, versions.rs, lists.rs, restarts.rs) on every supported
## Kubernetes version, each control plane built from Go modules (KUBERNETES_VERSION; a cold build
## is many minutes per version). `make e2e` runs the same modules on the default version (1.37).
## APPFLOW_E2E_RESTART_ROUNDS (default 1,1,3) sets the API-server restart rounds.
COMPAT_VERSIONS ?= 1.33 1.35 1.37
compat:
	cargo build --bins $(TEST_FEATURES)
	for v in $(COMPAT_VERSIONS); do \
		KUBERNETES_VERSION=$$v hack/controlplane/build.sh >/dev/null && \
		KUBERNETES_VERSION=$$v cargo test --test e2e $(TEST_FEATURES) -- compat:: versions:: lists:: restarts:: || exit 1; \
	done

## The upgrade from the last release (hack/upgrade/previous-release, 0.1.0) to this tree on a real
## node (root needed; a full clone): 0.1.0's image and chart built from its commit
## (hack/upgrade/build-previous.sh, cached in .cache/upgrade), installed with helm and as the
## plain manifests, objects created as v1alpha1, then upgraded to this tree's image and chart with
## every object watched (tests/e2e/upgrade.rs); then `migrate`. This tree's static binary and
## image are built first. See docs/testing.md, "A real node".
upgrade-test: tools
	cargo build --bins $(TEST_FEATURES)
	hack/build-static.sh x86_64-unknown-linux-gnu
	RELEASE_PLATFORMS=amd64 hack/image/build.sh
	hack/upgrade/build-previous.sh
	cargo test --test e2e $(TEST_FEATURES) -- --ignored upgrade:: --nocapture

## botocore's AppFlow client against the emulator binary.
python:
	cargo build --bins $(TEST_FEATURES)
	$(VENV)/bin/python -m pytest -q -p no:cacheprovider tests/python

## The fuzz targets in fuzz/ (cargo-fuzz, nightly, no sanitizer), FUZZ_SECONDS each (default
## 300), growing the corpus kept in fuzz/target/corpus; prints execs/s, execs, coverage and
## findings per target (inputs that crash in fuzz/artifacts). See docs/testing.md, "Fuzzing".
FUZZ_SECONDS ?= 300
fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) hack/fuzz/run.sh

## 20 s of each fuzz target from the committed seeds alone; any crash, timeout or OOM fails (a
## CI job of its own; `make test` replays the seeds without libFuzzer).
fuzz-smoke:
	hack/fuzz/run.sh --smoke

## The Argo CD health check (Lua) run in gopher-lua against real status objects; the control
## plane launcher's own checks.
go-tests:
	cd hack/argocd && GOTOOLCHAIN=local go test ./...
	cd hack/controlplane && GOTOOLCHAIN=local go test ./cmd/...

## `make test`'s share of the release: the x86_64 release binary as the Dockerfile builds it (fully
## static), checked by ELF header and run; the amd64 image from it, built with buildah (no
## daemon, no registry) and checked against the Dockerfile's final stage; the GitHub release's
## files for amd64 in target/dist (krew manifest validated and installed by krew). The e2e
## suite's node:: module publishes and installs the image.
static:
	hack/build-static.sh x86_64-unknown-linux-gnu
	RELEASE_PLATFORMS=amd64 hack/image/build.sh
	RELEASE_PLATFORMS=amd64 hack/release/package.sh target/dist

## The whole release build, as the release workflow makes it: the static binaries for x86_64 and
## (cross) aarch64, the arm64 one run under qemu with the same output; the image index for
## linux/amd64 and linux/arm64; both platforms' release files. A CI job of its own.
release-check:
	hack/release/install.sh
	hack/build-static.sh x86_64-unknown-linux-gnu
	hack/build-static.sh aarch64-unknown-linux-gnu
	hack/release/compare-arches.sh
	hack/image/build.sh
	hack/release/package.sh target/dist

## The release workflow's steps against an OCI registry on loopback, then helm install from it
## onto a real node (root needed); what was pushed: target/release-local/published.json.
release-local:
	hack/release/local.sh

## Fleet scale on the real control plane and the emulator (50 ms, 10 req/s account quota):
## N = 1,000 and 10,000 (BENCH_SIZES), time to Ready vs the API server's ceiling, calls per key,
## status writes, throttling; a forced refresh of every object spread over 2 min per 10,000 with
## probes timed to Ready (new key, cached key); an API-server restart and the relist's peak RSS;
## RSS and CPU -> target/bench/results.{json,md}, chart.svg (docs/scale.md).
bench: tools
	cargo build --release --workspace --bins
	bin=$$(hack/controlplane/build.sh --bin-dir) && APPFLOW_CONTROLPLANE_BIN_DIR=$$bin cargo run --release -p appflow-bench

## The per-key error budget: 1 and 20 objects on keys answering AccessDenied for BUDGET_MINUTES
## (default 10): calls per key, per hour over that window, and the schedule's bounds ->
## target/bench/budget.{json,md}.
bench-budget: tools
	cargo build --release --workspace --bins
	bin=$$(hack/controlplane/build.sh --bin-dir) && APPFLOW_CONTROLPLANE_BIN_DIR=$$bin cargo run --release -p appflow-bench -- budget

## Fault-injection soak: 1,000 ConnectorInfos over 50 keys, 30% random AWS faults (500, 429,
## hang, garbage), three API-server restarts over 5 minutes; prints its figures. SOAK_OBJECTS,
## SOAK_KEYS, SOAK_FAULT_RATE, SOAK_RESTARTS, SOAK_SECONDS, SOAK_SEED change the plan. A short
## case (100 objects, one restart) runs in `make e2e`.
soak: tools
	cargo build --bins $(TEST_FEATURES)
	cargo test --test e2e $(TEST_FEATURES) -- --ignored --exact soak::soak_full --nocapture

## The most AWS calls and status writes one tenant's object can cause in a minute (measured).
hostile-worst-case:
	hack/hostile/worst-case.sh

## Regenerate the CRD from the Rust types, then the chart's copy and deploy/manifests
## (tests fail when any of them drift).
crd:
	cargo run --quiet -- crd connectorinfos > crds/connectorinfos.appflow.connectorinfo.dev.yaml
	cargo run --quiet -- crd appflowaccounts > crds/appflowaccounts.appflow.connectorinfo.dev.yaml
	hack/render-manifests.sh

## Regenerate deploy/manifests from the chart.
manifests:
	hack/render-manifests.sh

## The operator image (needs a Docker engine; hack/build-static.sh checks the same binary).
image:
	docker build -t appflow-connector-operator:0.2.0 .

## The documentation as a book (mdBook, installed from crates.io into .cache/cargo-tools):
## docs/ -> target/book. Internal links are checked in `make test` (docs::internal_links).
docs:
	@test -x .cache/cargo-tools/bin/mdbook || cargo install --quiet --locked --root .cache/cargo-tools mdbook@0.5.4
	.cache/cargo-tools/bin/mdbook build docs
