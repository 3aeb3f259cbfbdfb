#!/usr/bin/env bash
# Builds the helm CLI from the Go module in this directory into
#   $APPFLOW_HELM_BIN_DIR (default: <repo>/.cache/helm/bin)
# and prints its path. Needs only Go and the Go module proxy. The chart tests
# (tests/e2e/helm.rs) use it; so can you:
#   "$(hack/helm/build.sh)" lint --strict charts/appflow-connector-operator
#
# Idempotent: it rebuilds only when a stamp (hash of the Go toolchain version,
# go.mod, go.sum, this script, hack/lib/gobuild.sh and every .go file here)
# differs from the one stored next to the binary, or the binary is missing. A
# cold build compiles helm and its Kubernetes client libraries (a few minutes
# on two cores); a warm call is instant.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/../lib/gobuild.sh
. "$here/../lib/gobuild.sh"
repo=$(cd "$here/../.." && pwd)
out=${APPFLOW_HELM_BIN_DIR:-$repo/.cache/helm/bin}
gobuild::find_go

# What upstream's Makefile stamps in: the release version (without it
# `helm version` says v3.19 only) and the Kubernetes version of the client
# libraries, which `helm template`/`lint` report as .Capabilities.KubeVersion
# (without it: v1.20.0).
helm_version=$(cd "$here" && "$go" list -m -f '{{.Version}}' helm.sh/helm/v3)
client_go=$(cd "$here" && "$go" list -m -f '{{.Version}}' k8s.io/client-go)
[[ $client_go =~ ^v0\.([0-9]+)\. ]] || { echo "build.sh: odd client-go version $client_go" >&2; exit 1; }
kube_minor=${BASH_REMATCH[1]}
ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$helm_version"
ldflags+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
  ldflags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$kube_minor"
done

stamp=$(gobuild::stamp "$here" go.mod go.sum build.sh)
build() {
  (cd "$here" && "$go" build -trimpath -buildvcs=false -ldflags="$ldflags" -o "$1/helm" helm.sh/helm/v3/cmd/helm)
}
gobuild::run "$out" "$stamp" "helm $helm_version" build helm
echo "$out/helm"
