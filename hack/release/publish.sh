#!/usr/bin/env bash
# Publishes a release to an OCI registry the way the release workflow publishes to GHCR, with a
# key instead of keyless signing:
#
#   hack/release/publish.sh REGISTRY OUT_DIR
#
#   REGISTRY  host:port of a plain-HTTP registry (the loopback registry the tests start)
#   OUT_DIR   where the key pair, the SBOM and published.json go
#
# Steps: push the image index hack/image/build.sh built (both platforms) as
# REGISTRY/appflow-connector-operator:<version>; package the chart (hack/release/package-chart.sh:
# its artifacthub.io/images annotation pinned to the pushed digest) and `helm push` it to
# oci://REGISTRY/charts; sign both by digest with cosign (OUT_DIR/cosign.key, a key pair generated
# there when missing; COSIGN_PASSWORD is its password, empty by default); attach the SBOM
# (hack/release/sbom.sh) to the image index as a signed CycloneDX attestation. Writes
# OUT_DIR/published.json: every artifact's reference, digest and size, and the compressed size of
# each platform's image. hack/release/verify.sh checks what this pushed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo"
registry=${1:?usage: publish.sh REGISTRY OUT_DIR}
out=${2:?usage: publish.sh REGISTRY OUT_DIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
fail() { echo "publish.sh: FAIL: $*" >&2; exit 1; }

tools=$(hack/release/tools/build.sh)
helm=$(hack/helm/build.sh)
name=appflow-connector-operator
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
store=$repo/.cache/containers
buildah=(buildah --root "$store/storage" --runroot "$store/run" --storage-driver vfs)
image=$registry/$name
chart_repo=$registry/charts
export COSIGN_PASSWORD=${COSIGN_PASSWORD-}
cosign=("$tools/cosign")
# A loopback registry speaks plain HTTP, and there is no transparency log to reach here: the
# signatures live beside the artifacts in the registry, as `cosign verify --key` reads them.
registry_flags=(--allow-http-registry --allow-insecure-registry)

"${buildah[@]}" manifest exists "localhost/$name:$version" \
  || fail "no image index localhost/$name:$version in $store: run hack/image/build.sh"

# 1. The image index and both images, by digest from here on.
"${buildah[@]}" manifest push --quiet --all --tls-verify=false --digestfile "$out/image.digest" \
  "localhost/$name:$version" "docker://$image:$version"
image_digest=$(cat "$out/image.digest")
[[ $image_digest == sha256:* ]] \
  || fail "no digest for the pushed index ($image_digest): is the index in $store complete? run hack/image/build.sh"
echo "pushed $image:$version@$image_digest"

# 2. The chart as an OCI artifact (oci://REGISTRY/charts/NAME:CHART_VERSION), its Artifact Hub
# metadata naming the image by the digest just pushed.
rm -f "$out"/*.tgz
chart_tgz=$(APPFLOW_HELM_BIN=$helm hack/release/package-chart.sh "$out" "$image_digest")
chart_version=$(sed -n 's/^version: *//p' "charts/$name/Chart.yaml")
push_out=$("$helm" push "$chart_tgz" "oci://$chart_repo" --plain-http 2>&1) || fail "helm push: $push_out"
chart_digest=$(sed -n 's/^Digest: *//p' <<<"$push_out")
[[ $chart_digest == sha256:* ]] || fail "helm push printed no digest: $push_out"
echo "pushed oci://$chart_repo/$name:$chart_version@$chart_digest"

# 3. Signatures, by digest (a tag can be moved; a digest cannot).
if [[ ! -f $out/cosign.key ]]; then
  rm -f "$out/cosign.pub"
  (cd "$out" && "${cosign[@]}" generate-key-pair >/dev/null 2>&1) || fail "cosign generate-key-pair"
fi
for ref in "$image@$image_digest" "$chart_repo/$name@$chart_digest"; do
  "${cosign[@]}" sign --yes --key "$out/cosign.key" --tlog-upload=false "${registry_flags[@]}" "$ref" \
    >/dev/null 2>&1 || fail "cosign sign $ref"
  echo "signed $ref"
done

# 4. Each platform's SBOM, as a signed CycloneDX attestation on that platform's image.
hack/release/sbom.sh "$out"
"$tools/crane" manifest --insecure "$image@$image_digest" >"$out/index.json"
# Every platform the index holds (both in a release; amd64 alone in `make test`).
while read -r arch digest; do
  "${cosign[@]}" attest --yes --key "$out/cosign.key" --tlog-upload=false "${registry_flags[@]}" \
    --type cyclonedx --predicate "$out/sbom-linux-$arch.cdx.json" "$image@$digest" >/dev/null 2>&1 \
    || fail "cosign attest $image@$digest"
  echo "attested the linux/$arch SBOM to $image@$digest"
done < <(python3 -c '
import json, sys
for m in json.load(open(sys.argv[1]))["manifests"]:
    print(m["platform"]["architecture"], m["digest"])
' "$out/index.json")

# 5. Provenance of the index: SLSA v1, as the release workflow's attest-build-provenance step
# writes it there (builder: this script instead of a GitHub workflow run).
commit=$(git rev-parse HEAD)
python3 - "$commit" "$image@$image_digest" >"$out/provenance.json" <<'PY'
import json, subprocess, sys
commit, subject = sys.argv[1:]
print(json.dumps({
    "buildDefinition": {
        "buildType": "https://github.com/appflow-connector-operator/appflow-connector-operator/hack/release/local.sh@v1",
        "externalParameters": {"source": "https://github.com/appflow-connector-operator/appflow-connector-operator",
                               "subject": subject},
        "resolvedDependencies": [{
            "uri": "git+https://github.com/appflow-connector-operator/appflow-connector-operator",
            "digest": {"gitCommit": commit},
        }],
    },
    "runDetails": {
        "builder": {"id": "hack/release/publish.sh"},
        "metadata": {"invocationId": f"local-{commit[:12]}"},
    },
}, indent=2))
PY
"${cosign[@]}" attest --yes --key "$out/cosign.key" --tlog-upload=false "${registry_flags[@]}" \
  --type slsaprovenance1 --predicate "$out/provenance.json" "$image@$image_digest" >/dev/null 2>&1 \
  || fail "cosign attest (provenance) $image@$image_digest"
echo "attested SLSA provenance (commit $commit) to $image@$image_digest"

# 6. What was pushed, with sizes as the registry holds them (per platform: the compressed layers).
python3 - "$out" "$image" "$image_digest" "$chart_repo/$name" "$chart_version" "$chart_digest" \
  "$(stat -c %s "$chart_tgz")" "$tools/crane" <<'PY'
import json, subprocess, sys
out, image, image_digest, chart, chart_version, chart_digest, chart_size, crane = sys.argv[1:]
index = json.load(open(f"{out}/index.json"))
platforms = {}
for entry in index["manifests"]:
    arch = entry["platform"]["architecture"]
    manifest = json.loads(subprocess.check_output(
        [crane, "manifest", "--insecure", f"{image}@{entry['digest']}"]))
    platforms[f"linux/{arch}"] = {
        "digest": entry["digest"],
        "compressed_bytes": sum(layer["size"] for layer in manifest["layers"]) + manifest["config"]["size"],
        "sbom": f"{out}/sbom-linux-{arch}.cdx.json",
    }
published = {
    "image": {"reference": image, "digest": image_digest, "platforms": platforms},
    "chart": {"reference": f"oci://{chart}", "version": chart_version, "digest": chart_digest,
              "bytes": int(chart_size)},
    "public_key": f"{out}/cosign.pub",
}
json.dump(published, open(f"{out}/published.json", "w"), indent=2)
for platform, p in platforms.items():
    print(f"{platform}: {p['digest']} {p['compressed_bytes']} bytes compressed "
          f"({p['compressed_bytes'] / 1048576:.2f} MiB)")
    # The release's size budget (docs/releasing.md): 8.5 MiB a platform, compressed.
    assert p["compressed_bytes"] <= 8.5 * 1048576, f"{platform} is over the 8.5 MiB budget"

PY
echo "published.json -> $out/published.json"
