#!/usr/bin/env bash
# Builds the local control plane binaries (etcd, kube-apiserver, kubectl, the
# controlplane launcher, and for its --node mode kube-controller-manager,
# kube-scheduler, kubelet and a pause binary) from the Go module in this
# directory into
#   $APPFLOW_CONTROLPLANE_BIN_DIR (default: <repo>/.cache/controlplane/bin)
# and prints their paths. Needs only Go and the Go module proxy.
#
# Idempotent: it rebuilds only when a stamp (hash of the Go toolchain version,
# go.mod, go.sum, this script and every .go file here) differs from the one
# stored next to the binaries, or a binary is missing. A cold build compiles
# all of Kubernetes and takes minutes on two cores; a warm call is instant.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=${APPFLOW_CONTROLPLANE_BIN_DIR:-$repo/.cache/controlplane/bin}
bins=(etcd kube-apiserver kubectl controlplane kube-controller-manager kube-scheduler kubelet pause)

go=$(command -v go || true)
[[ -n $go ]] || go=/usr/local/go/bin/go
[[ -x $go ]] || { echo "build.sh: Go not found (PATH or /usr/local/go/bin)" >&2; exit 1; }
# Never let go.mod's `go` line trigger a toolchain download, and build
# static binaries (no C compiler needed), as upstream releases do.
export GOTOOLCHAIN=local CGO_ENABLED=0

# The version that upstream's hack/lib/version.sh would stamp in; without it
# kubectl and the apiserver report v0.0.0-master. Keep in step with go.mod.
k8s_version=$(cd "$here" && "$go" list -m -f '{{.Version}}' k8s.io/kubernetes)
[[ $k8s_version =~ ^v([0-9]+)\.([0-9]+)\. ]] || { echo "build.sh: odd version $k8s_version" >&2; exit 1; }
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=${BASH_REMATCH[1]}"
  ldflags+=" -X $pkg.gitMinor=${BASH_REMATCH[2]} -X $pkg.gitTreeState=clean"
done

stamp=$(
  cd "$here"
  { "$go" env GOVERSION GOOS GOARCH; cat go.mod go.sum build.sh
    find . -name '*.go' -type f | LC_ALL=C sort | xargs cat; } | sha256sum | cut -d' ' -f1
)

print_paths() { for b in "${bins[@]}"; do echo "$out/$b"; done; }

up_to_date() {
  [[ -f $out/.stamp && $(cat "$out/.stamp") == "$stamp" ]] || return 1
  for b in "${bins[@]}"; do [[ -x $out/$b ]] || return 1; done
}

mkdir -p "$out"
# Serialise concurrent callers (e.g. two test binaries starting at once).
exec 9>"$out/.lock"
command -v flock >/dev/null && flock 9

if up_to_date; then
  print_paths
  exit 0
fi

echo "build.sh: building control plane ($k8s_version) into $out ..." >&2
tmp=$(mktemp -d "$out/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# One `go build` for all of them so the shared packages compile once.
(cd "$here" && "$go" build -trimpath -buildvcs=false -ldflags="$ldflags" -o "$tmp/" \
  ./cmd/etcd ./cmd/controlplane ./cmd/pause \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl \
  k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler \
  k8s.io/kubernetes/cmd/kubelet)
for b in "${bins[@]}"; do mv -f "$tmp/$b" "$out/$b"; done
echo "$stamp" >"$out/.stamp"
print_paths
