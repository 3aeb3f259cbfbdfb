#!/usr/bin/env bash
# Packages the chart as a release ships it, with the image pinned by digest in its Artifact Hub
# metadata:
#
#   hack/release/package-chart.sh OUT_DIR IMAGE_DIGEST
#
# Copies charts/appflow-connector-operator to a scratch directory, turns the
# `artifacthub.io/images` annotation's `image: <repository>:<appVersion>` into
# `<repository>:<appVersion>@IMAGE_DIGEST` (the index the release pushed), runs `helm package`
# into OUT_DIR and prints the archive's path. The work tree is left as it is. The release
# workflow and hack/release/publish.sh push the image first, then call this with its digest.
# helm: $APPFLOW_HELM_BIN, else the one hack/helm/build.sh builds.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=${1:?usage: package-chart.sh OUT_DIR IMAGE_DIGEST}
digest=${2:?usage: package-chart.sh OUT_DIR IMAGE_DIGEST}
fail() { echo "package-chart.sh: FAIL: $*" >&2; exit 1; }
[[ $digest =~ ^sha256:[0-9a-f]{64}$ ]] || fail "not an image digest: $digest"
helm=${APPFLOW_HELM_BIN:-}
[[ -n $helm ]] || helm=$("$repo/hack/helm/build.sh")

name=appflow-connector-operator
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cp -R "$repo/charts/$name" "$stage/$name"
chart=$stage/$name/Chart.yaml
app_version=$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$chart")
[[ -n $app_version ]] || fail "no appVersion in Chart.yaml"
image=$(sed -n 's/^ *repository: *\([^ #]*\).*$/\1/p' "$stage/$name/values.yaml" | head -1)
[[ -n $image ]] || fail "no image.repository in values.yaml"

# Exactly one line names the image by tag; it gets the digest.
line="      image: $image:$app_version"
count=$(grep -cxF -- "$line" "$chart" || true)
[[ $count == 1 ]] || fail "expected one line '$line' in Chart.yaml's artifacthub.io/images, found $count"
python3 - "$chart" "$line" "$line@$digest" <<'PY'
import sys
path, old, new = sys.argv[1:]
text = open(path).read()
open(path, "w").write(text.replace(old + "\n", new + "\n", 1))
PY

mkdir -p "$out"
"$helm" package "$stage/$name" -d "$out" >/dev/null
version=$(sed -n 's/^version: *//p' "$chart")
archive=$(cd "$out" && pwd)/$name-$version.tgz
[[ -f $archive ]] || fail "helm package wrote no $archive"
echo "$archive"
