#!/usr/bin/env bash
# Verifies what hack/release/publish.sh pushed, as a user does before installing, and shows that
# the same commands refuse what was not signed:
#
#   hack/release/verify.sh REGISTRY OUT_DIR      (OUT_DIR: publish.sh's, with cosign.pub)
#
# Accepted: the image index and the chart, by digest and by tag (`cosign verify --key`); each
# platform image's SBOM attestation (`cosign verify-attestation --type cyclonedx`), whose
# predicate must list kube and aws-sdk-appflow at the versions in Cargo.lock; the index's SLSA
# provenance attestation, naming this commit; the chart's artifacthub.io/images annotation,
# naming the pushed index by digest.
# Refused (each must fail, or this script fails):
#   - an image pushed without a signature;
#   - the same image signed with another key;
#   - the release tag moved to a tampered image (a changed label: another digest);
#   - the chart's version tag moved to a tampered chart (a changed values.yaml).
# The tags are put back afterwards, and the genuine artifacts verify again.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo"
registry=${1:?usage: verify.sh REGISTRY OUT_DIR}
out=$(cd "${2:?usage: verify.sh REGISTRY OUT_DIR}" && pwd)
fail() { echo "verify.sh: FAIL: $*" >&2; exit 1; }

tools=$(hack/release/tools/build.sh)
helm=$(hack/helm/build.sh)
crane=("$tools/crane" --insecure)
export COSIGN_PASSWORD=${COSIGN_PASSWORD-}
read -r image image_digest chart chart_version chart_digest < <(python3 -c '
import json, sys
p = json.load(open(sys.argv[1]))
print(p["image"]["reference"], p["image"]["digest"], p["chart"]["reference"].removeprefix("oci://"),
      p["chart"]["version"], p["chart"]["digest"])' "$out/published.json")
[[ $image == "$registry/"* && $chart == "$registry/"* ]] \
  || fail "$out/published.json names $image and $chart, not artifacts in $registry"
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
flags=(--allow-http-registry --allow-insecure-registry --insecure-ignore-tlog=true)
verify() { "$tools/cosign" verify --key "$out/cosign.pub" "${flags[@]}" "$1" >/dev/null 2>&1; }
accepted() { verify "$1" || fail "cosign verify refused $1"; echo "accepted: $1"; }
refused() { ! verify "$1" || fail "cosign verify accepted $2: $1"; echo "refused: $2"; }

accepted "$image@$image_digest"
accepted "$image:$version"
accepted "$chart@$chart_digest"
accepted "$chart:$chart_version"

# The chart's Artifact Hub metadata names the image by the digest that was pushed.
"$helm" show chart "oci://$chart" --version "$chart_version" --plain-http 2>/dev/null \
  | grep -qF "image: ghcr.io/appflow-connector-operator/appflow-connector-operator:$version@$image_digest" \
  || fail "the chart's artifacthub.io/images annotation does not name $image_digest"
echo "chart metadata: artifacthub.io/images pins $image_digest"

# The SBOM attestations: signed by the key, and they name what each binary is built from.
while read -r platform digest; do
  "$tools/cosign" verify-attestation --key "$out/cosign.pub" "${flags[@]}" --type cyclonedx \
    "$image@$digest" 2>/dev/null >"$out/attestation.jsonl" || fail "the $platform SBOM attestation does not verify"
  python3 - "$out/attestation.jsonl" Cargo.lock "$platform" <<'PY' || fail "the attested $platform SBOM"
import base64, json, sys, tomllib
envelope = json.loads(open(sys.argv[1]).readline())
statement = json.loads(base64.b64decode(envelope["payload"]))
assert statement["predicateType"] == "https://cyclonedx.org/bom", statement["predicateType"]
components = {c["name"]: c.get("version") for c in statement["predicate"]["components"]}
locked = {}
for package in tomllib.load(open(sys.argv[2], "rb"))["package"]:
    locked.setdefault(package["name"], []).append(package["version"])
named = []
for crate in ["kube", "kube-runtime", "aws-sdk-appflow", "aws-config"]:
    assert crate in components, f"{crate} not in the SBOM"
    assert components[crate] in locked[crate], f"{crate} {components[crate]} is not Cargo.lock's {locked[crate]}"
    named.append(f"{crate} {components[crate]}")
print(f"attested SBOM ({sys.argv[3]}): {len(statement['predicate']['components'])} crates, " + ", ".join(named))
PY
done < <(python3 -c '
import json, sys
for platform, p in json.load(open(sys.argv[1]))["image"]["platforms"].items():
    print(platform, p["digest"])' "$out/published.json")

# The provenance names the commit the release was built from.
"$tools/cosign" verify-attestation --key "$out/cosign.pub" "${flags[@]}" --type slsaprovenance1 \
  "$image@$image_digest" 2>/dev/null >"$out/provenance.jsonl" || fail "the provenance attestation does not verify"
python3 - "$out/provenance.jsonl" "$(git rev-parse HEAD)" <<'PY' || fail "the attested provenance"
import base64, json, sys
statement = json.loads(base64.b64decode(json.loads(open(sys.argv[1]).readline())["payload"]))
assert statement["predicateType"] == "https://slsa.dev/provenance/v1", statement["predicateType"]
commits = [d["digest"]["gitCommit"] for d in statement["predicate"]["buildDefinition"]["resolvedDependencies"]]
assert commits == [sys.argv[2]], commits
print(f"attested provenance: built from commit {commits[0]}")
PY

# An image nobody signed, then one signed with a key that is not the release's.
store=$repo/.cache/containers
buildah=(buildah --root "$store/storage" --runroot "$store/run" --storage-driver vfs)
"${buildah[@]}" push --quiet --tls-verify=false --digestfile "$out/unsigned.digest" \
  "localhost/appflow-connector-operator:$version-amd64" "docker://$image:unsigned"
unsigned=$image@$(cat "$out/unsigned.digest")
refused "$unsigned" "an unsigned image"
other=$(mktemp -d)
trap 'rm -rf "$other"' EXIT
(cd "$other" && "$tools/cosign" generate-key-pair >/dev/null 2>&1)
"$tools/cosign" sign --yes --key "$other/cosign.key" --tlog-upload=false \
  --allow-http-registry --allow-insecure-registry "$unsigned" >/dev/null 2>&1 || fail "signing with another key"
refused "$unsigned" "an image signed with another key"

# The release tag moved to a tampered image; then put back.
"${crane[@]}" mutate "$unsigned" --label "org.example.tampered=true" -t "$image:$version" >/dev/null 2>&1
refused "$image:$version" "the release tag moved to a tampered image"
"${crane[@]}" tag "$image@$image_digest" "$version" 2>/dev/null
accepted "$image:$version"

# The chart's version tag moved to a tampered chart; then put back.
tampered=$(mktemp -d)
tar -xzf "$out/$(basename "$chart")-$chart_version.tgz" -C "$tampered"
echo "# tampered" >>"$tampered/$(basename "$chart")/values.yaml"
"$helm" package "$tampered/$(basename "$chart")" -d "$tampered" >/dev/null
"$helm" push "$tampered/$(basename "$chart")-$chart_version.tgz" "oci://${chart%/*}" --plain-http >/dev/null 2>&1
rm -rf "$tampered"
refused "$chart:$chart_version" "the chart's tag moved to a tampered chart"
"${crane[@]}" tag "$chart@$chart_digest" "$chart_version" 2>/dev/null
accepted "$chart:$chart_version"
echo "verify.sh: every signed artifact accepted, every unsigned or tampered one refused"
