#!/usr/bin/env bash
# Builds promtool (Prometheus's rule checker and rule unit-test runner) from
# the Go module in this directory into
#   $APPFLOW_MONITORING_DIR/bin (default: <repo>/.cache/monitoring/bin)
# and copies the prometheus-operator CRDs the e2e suite validates the chart's
# ServiceMonitor and PrometheusRule against into $APPFLOW_MONITORING_DIR/crds.
# Prints the promtool path. Needs only Go and the Go module proxy.
#
# Idempotent: it rebuilds only when a stamp (hash of the Go toolchain version,
# go.mod, go.sum, this script and every .go file here) differs from the one
# stored next to the outputs, or one is missing. A cold build takes a few
# minutes on two cores; a warm call is instant.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=${APPFLOW_MONITORING_DIR:-$repo/.cache/monitoring}
# The prometheus-operator release whose CRDs (example/prometheus-operator-crd)
# the chart's monitoring objects must satisfy.
operator_version=v0.94.0
crds=(monitoring.coreos.com_servicemonitors.yaml monitoring.coreos.com_prometheusrules.yaml)

go=$(command -v go || true)
[[ -n $go ]] || go=/usr/local/go/bin/go
[[ -x $go ]] || { echo "build.sh: Go not found (PATH or /usr/local/go/bin)" >&2; exit 1; }
export GOTOOLCHAIN=local CGO_ENABLED=0

# The Go module v0.3XX.Y is Prometheus 3.XX.Y; promtool --version says so.
module_version=$(cd "$here" && "$go" list -m -f '{{.Version}}' github.com/prometheus/prometheus)
[[ $module_version =~ ^v0\.3([0-9]{2})\.([0-9]+)$ ]] || { echo "build.sh: odd version $module_version" >&2; exit 1; }
release="3.$((10#${BASH_REMATCH[1]})).${BASH_REMATCH[2]}"
ldflags="-s -w -X github.com/prometheus/common/version.Version=$release"
ldflags+=" -X github.com/prometheus/common/version.Branch=release"

stamp=$(
  cd "$here"
  { "$go" env GOVERSION GOOS GOARCH; cat go.mod go.sum build.sh
    find . -name '*.go' -type f | LC_ALL=C sort | xargs cat; } | sha256sum | cut -d' ' -f1
)

up_to_date() {
  [[ -f $out/.stamp && $(cat "$out/.stamp") == "$stamp" && -x $out/bin/promtool ]] || return 1
  for crd in "${crds[@]}"; do [[ -f $out/crds/$crd ]] || return 1; done
}

mkdir -p "$out/bin" "$out/crds"
exec 9>"$out/.lock"
command -v flock >/dev/null && flock 9

if up_to_date; then
  echo "$out/bin/promtool"
  exit 0
fi

echo "build.sh: building promtool $release and fetching prometheus-operator $operator_version CRDs into $out ..." >&2
tmp=$(mktemp -d "$out/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
(cd "$here" && "$go" build -trimpath -buildvcs=false -ldflags="$ldflags" -o "$tmp/promtool" \
  github.com/prometheus/prometheus/cmd/promtool)
dir=$(cd "$here" && "$go" mod download -json "github.com/prometheus-operator/prometheus-operator@$operator_version" |
  sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[[ -d $dir ]] || { echo "build.sh: prometheus-operator $operator_version not downloaded" >&2; exit 1; }
for crd in "${crds[@]}"; do
  cp "$dir/example/prometheus-operator-crd/$crd" "$out/crds/$crd"
  chmod 644 "$out/crds/$crd"
done
mv -f "$tmp/promtool" "$out/bin/promtool"
echo "$stamp" >"$out/.stamp"
echo "$out/bin/promtool"
