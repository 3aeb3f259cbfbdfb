#!/usr/bin/env bash
# Builds the helm CLI from the Go module in this directory into
#   $APPFLOW_HELM_BIN_DIR (default: <repo>/.cache/helm/bin)
# and prints its path. Needs only Go and the Go module proxy. The chart tests
# (tests/e2e/helm.rs) use it; so can you:
#   "$(hack/helm/build.sh)" lint --strict charts/appflow-connector-operator
#
# Idempotent: it rebuilds only when a stamp (hash of the Go toolchain version,
# go.mod, go.sum, this script and every .go file here) differs from the one
# stored next to the binary, or the binary is missing. A cold build compiles
# helm and its Kubernetes client libraries (a few minutes on two cores); a
# warm call is instant.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=${APPFLOW_HELM_BIN_DIR:-$repo/.cache/helm/bin}

go=$(command -v go || true)
[[ -n $go ]] || go=/usr/local/go/bin/go
[[ -x $go ]] || { echo "build.sh: Go not found (PATH or /usr/local/go/bin)" >&2; exit 1; }
# Never let go.mod's `go` line trigger a toolchain download, and build a
# static binary (no C compiler needed), as upstream releases do.
export GOTOOLCHAIN=local CGO_ENABLED=0

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

stamp=$(
  cd "$here"
  { "$go" env GOVERSION GOOS GOARCH; cat go.mod go.sum build.sh
    find . -name '*.go' -type f | LC_ALL=C sort | xargs cat; } | sha256sum | cut -d' ' -f1
)

up_to_date() {
  [[ -f $out/.stamp && $(cat "$out/.stamp") == "$stamp" && -x $out/helm ]]
}

mkdir -p "$out"
# Serialise concurrent callers (e.g. two test binaries starting at once).
exec 9>"$out/.lock"
command -v flock >/dev/null && flock 9

if up_to_date; then
  echo "$out/helm"
  exit 0
fi

echo "build.sh: building helm $helm_version into $out ..." >&2
tmp=$(mktemp -d "$out/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
(cd "$here" && "$go" build -trimpath -buildvcs=false -ldflags="$ldflags" -o "$tmp/helm" \
  helm.sh/helm/v3/cmd/helm)
mv -f "$tmp/helm" "$out/helm"
echo "$stamp" >"$out/.stamp"
echo "$out/helm"
