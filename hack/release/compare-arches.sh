#!/usr/bin/env bash
# The arm64 release binary, run under qemu-aarch64-static, says what the amd64 one says:
#
#   hack/release/compare-arches.sh
#
# `--version`, `crd`, and `describe` of three connectors (a described one, a custom connector and
# one the account does not have) against the AppFlow emulator, in JSON; the times in the
# describe output (when it was observed) are the only lines allowed to differ; exit codes too
# must agree. Both binaries
# come from hack/build-static.sh.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo"
fail() { echo "compare-arches.sh: FAIL: $*" >&2; exit 1; }
amd64=target/x86_64-unknown-linux-gnu/release/appflow-connector-operator
arm64=target/aarch64-unknown-linux-gnu/release/appflow-connector-operator
for bin in "$amd64" "$arm64"; do [[ -x $bin ]] || fail "$bin missing: run hack/build-static.sh"; done

cargo build --quiet -p appflow-emulator
coproc EMU { exec target/debug/appflow-emulator --listen 127.0.0.1:0 --data hack/demo/emulator-data.yaml 2>/dev/null; }
trap 'kill "$EMU_PID" 2>/dev/null' EXIT
read -r -t 20 line <&"${EMU[0]}" || fail "emulator did not start"
endpoint=http://127.0.0.1:${line##*:}

# run ARCH ARGS...: the binary of ARCH (arm64 under qemu), with the emulator's credentials.
run() {
  local arch=$1
  shift
  local -a bin=("$amd64")
  [[ $arch == arm64 ]] && bin=(qemu-aarch64-static "$arm64")
  env AWS_ACCESS_KEY_ID=AKIDTEST AWS_SECRET_ACCESS_KEY=test AWS_EC2_METADATA_DISABLED=true \
    "${bin[@]}" "$@"
}
# Timestamps differ between two runs by design; everything else must not.
untimed() { sed -E 's/"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z"/"<time>"/g'; }
same() {
  local what=$1
  shift
  diff -u <({ run amd64 "$@" 2>/dev/null; echo "exit $?"; } | untimed) \
    <({ run arm64 "$@" 2>/dev/null; echo "exit $?"; } | untimed) >&2 \
    || fail "amd64 and arm64 differ on: $what"
  echo "same on amd64 and arm64 (qemu): $what"
}
same "--version" --version
same "crd" crd
describe=(describe --region us-east-1 --endpoint-url "$endpoint" -o json)
same "describe Salesforce" "${describe[@]}" --connector-type Salesforce
same "describe CustomConnector acme-crm" "${describe[@]}" --connector-type CustomConnector --connector-label acme-crm
same "describe a missing custom connector" "${describe[@]}" --connector-type CustomConnector --connector-label no-such-connector
