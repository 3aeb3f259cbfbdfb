#!/usr/bin/env bash
# Builds promtool (Prometheus's rule checker and rule unit-test runner) from
# the Go module in this directory into
#   $APPFLOW_MONITORING_DIR/bin (default: <repo>/.cache/monitoring/bin)
# and copies the prometheus-operator CRDs the e2e suite validates the chart's
# ServiceMonitor and PrometheusRule against into $APPFLOW_MONITORING_DIR/crds.
# Prints the promtool path. Needs only Go and the Go module proxy.
#
# Idempotent: it rebuilds only when a stamp (hash of the Go toolchain version,
# go.mod, go.sum, this script, hack/lib/gobuild.sh and every .go file here)
# differs from the one stored next to the outputs, or one is missing. A cold
# build takes a few minutes on two cores; a warm call is instant.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/../lib/gobuild.sh
. "$here/../lib/gobuild.sh"
repo=$(cd "$here/../.." && pwd)
out=${APPFLOW_MONITORING_DIR:-$repo/.cache/monitoring}
# The prometheus-operator release whose CRDs (example/prometheus-operator-crd)
# the chart's monitoring objects must satisfy.
operator_version=v0.94.0
crds=(monitoring.coreos.com_servicemonitors.yaml monitoring.coreos.com_prometheusrules.yaml)

gobuild::find_go

# The Go module v0.3XX.Y is Prometheus 3.XX.Y; promtool --version says so.
module_version=$(cd "$here" && "$go" list -m -f '{{.Version}}' github.com/prometheus/prometheus)
[[ $module_version =~ ^v0\.3([0-9]{2})\.([0-9]+)$ ]] || { echo "build.sh: odd version $module_version" >&2; exit 1; }
release="3.$((10#${BASH_REMATCH[1]})).${BASH_REMATCH[2]}"
ldflags="-s -w -X github.com/prometheus/common/version.Version=$release"
ldflags+=" -X github.com/prometheus/common/version.Branch=release"

stamp=$(gobuild::stamp "$here" go.mod go.sum build.sh)
build() {
  local tmp=$1 dir crd
  mkdir -p "$tmp/bin" "$tmp/crds"
  (cd "$here" && "$go" build -trimpath -buildvcs=false -ldflags="$ldflags" -o "$tmp/bin/promtool" \
    github.com/prometheus/prometheus/cmd/promtool)
  dir=$(cd "$here" && "$go" mod download -json "github.com/prometheus-operator/prometheus-operator@$operator_version" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [[ -d $dir ]] || { echo "build.sh: prometheus-operator $operator_version not downloaded" >&2; exit 1; }
  for crd in "${crds[@]}"; do
    cp "$dir/example/prometheus-operator-crd/$crd" "$tmp/crds/$crd"
    chmod 644 "$tmp/crds/$crd"
  done
}
gobuild::run "$out" "$stamp" "promtool $release and fetching prometheus-operator $operator_version CRDs" build \
  bin/promtool -- "${crds[@]/#/crds/}"
echo "$out/bin/promtool"
