#!/usr/bin/env bash
# Measures the worst a single tenant's ConnectorInfo can make the operator do in one minute:
# an object stored with refreshInterval 1ms (written while the CRD had no bounds, as an older
# CRD allowed) whose refresh annotation and spec are edited as fast as kubectl can, for
# WINDOW seconds (default 60), against the operator with its default flags. Prints the
# DescribeConnector calls and status writes per minute for that object.
#
#   hack/hostile/worst-case.sh            (or make hostile-worst-case)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"
window=${WINDOW:-60}
work=$(mktemp -d)
cargo build --quiet --workspace --bins
bin=$(hack/controlplane/build.sh --bin-dir) # KUBERNETES_VERSION picks the release (default 1.37)
operator=$repo/target/debug/appflow-connector-operator

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  [[ -n ${CP_PID:-} ]] && { { echo stop >&"${CP[1]}"; } 2>/dev/null || true; wait "$CP_PID" 2>/dev/null || true; }
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

coproc CP { hack/controlplane/up.sh "$work/cp" 2>"$work/cp.log"; }
read -r -t 300 status kubeconfig <&"${CP[0]}" && [[ $status == READY ]] || { echo "control plane failed" >&2; exit 1; }
export KUBECONFIG=$kubeconfig
kubectl() { "$bin/kubectl" "$@"; }

exec {emu_out}< <(exec "$repo/target/debug/appflow-emulator" --listen 127.0.0.1:0 2>/dev/null)
pids+=($!)
read -r -t 30 line <&"$emu_out"
emulator=${line##* }

crd=crds/connectorinfos.appflow.connectorinfo.dev.yaml
kubectl apply --server-side -f crds/ >/dev/null
kubectl wait --for=condition=Established crd/connectorinfos.appflow.connectorinfo.dev >/dev/null
# The CRD without the refreshInterval bounds, as before they existed.
kubectl get crd connectorinfos.appflow.connectorinfo.dev -o json \
  | python3 -c 'import json,sys; c=json.load(sys.stdin); p=c["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["refreshInterval"]; [p.pop(k,None) for k in ("pattern","maxLength","x-kubernetes-validations")]; print(json.dumps(c))' \
  | kubectl replace -f - >/dev/null
manifest='{"apiVersion":"appflow.connectorinfo.dev/v1beta1","kind":"ConnectorInfo","metadata":{"name":"hostile","namespace":"default"},"spec":{"connectorType":"Slack","refreshInterval":"1ms"}}'
until echo "$manifest" | kubectl apply -f - >/dev/null 2>&1; do sleep 0.2; done
kubectl apply --server-side --force-conflicts -f "$crd" >/dev/null

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
AWS_ACCESS_KEY_ID=AKIDTEST AWS_SECRET_ACCESS_KEY=test AWS_EC2_METADATA_DISABLED=true \
  "$operator" run --endpoint-url "$emulator" --region us-east-1 --health-addr "127.0.0.1:$port" --metrics-secure=false \
  2>"$work/operator.log" &
pids+=($!)
until curl -fs "http://127.0.0.1:$port/readyz" >/dev/null; do sleep 0.2; done
kubectl wait --for=condition=Ready conninfo/hostile --timeout=60s >/dev/null

calls() { curl -fs "$emulator/_emulator/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["calls"].get("Slack",0))'; }
writes() { curl -fs "http://127.0.0.1:$port/metrics" | awk '/^appflow_connector_operator_status_writes_total\{result="written"\}/ {print $2}'; }
calls0=$(calls); writes0=$(writes)
edits=0
end=$((SECONDS + window))
while ((SECONDS < end)); do
  kubectl annotate --overwrite conninfo/hostile "appflow.connectorinfo.dev/refresh=$edits" >/dev/null 2>&1
  # Every fifth edit changes the spec too (a new generation).
  if ((edits % 5 == 0)); then
    kubectl patch conninfo/hostile --type merge -p "{\"spec\":{\"connectorLabel\":\"x$edits\"}}" >/dev/null 2>&1
  fi
  edits=$((edits + 1))
done
calls1=$(calls); writes1=$(writes)
kill -0 "${pids[1]}" || { echo "operator died" >&2; exit 1; }
python3 - "$window" "$edits" "$((calls1 - calls0))" "$((writes1 - writes0))" <<'PY'
import sys
window, edits, calls, writes = (float(x) for x in sys.argv[1:])
per_min = 60 / window
print(f"worst case over {window:.0f}s: {edits:.0f} annotation edits (+{edits/5:.0f} spec edits) on one object stored with refreshInterval 1ms")
print(f"  DescribeConnector calls: {calls:.0f} ({calls*per_min:.1f}/min)")
print(f"  status writes:           {writes:.0f} ({writes*per_min:.1f}/min)")
PY
