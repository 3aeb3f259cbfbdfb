#!/usr/bin/env bash
# The local demo: a real control plane (etcd + kube-apiserver from Go modules), the AppFlow
# emulator, the CRD, the operator and the samples — then it stays up until Ctrl-C so you can
# poke at it with kubectl. Builds whatever is missing first.
#
#   make demo            (or hack/demo/run.sh)
#   DEMO_EXIT=1 make demo   # show the result and stop (used as a smoke check)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"
work=$repo/.cache/demo
mkdir -p "$work"

echo "==> building the operator and the control plane (first run takes a while)"
cargo build --quiet --workspace --bins
bin=$(hack/controlplane/build.sh --bin-dir) # KUBERNETES_VERSION picks the release (default 1.37)
operator=$repo/target/debug/appflow-connector-operator

pids=()
cleanup() {
  trap - EXIT INT TERM
  echo
  echo "==> stopping"
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  [[ -n ${CP_PID:-} ]] && { { echo stop >&"${CP[1]}"; } 2>/dev/null || true; wait "$CP_PID" 2>/dev/null || true; }
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

echo "==> starting etcd and kube-apiserver on loopback"
coproc CP { hack/controlplane/up.sh "$work/controlplane" 2>"$work/controlplane.log"; }
read -r -t 300 status kubeconfig <&"${CP[0]}" && [[ $status == READY ]] \
  || { echo "control plane failed: $status $kubeconfig (see $work/controlplane.log)" >&2; exit 1; }
export KUBECONFIG=$kubeconfig
kubectl() { "$bin/kubectl" "$@"; }

echo "==> starting the AppFlow emulator"
exec {emu_out}< <(exec "$repo/target/debug/appflow-emulator" --listen 127.0.0.1:0 --data hack/demo/emulator-data.yaml 2>"$work/emulator.log")
pids+=($!)
read -r -t 30 line <&"$emu_out"
endpoint=${line##* }
echo "    $endpoint"

echo "==> installing the CRDs"
kubectl apply --server-side -f crds/ >/dev/null
kubectl wait --for=condition=Established crd/connectorinfos.appflow.connectorinfo.dev \
  crd/appflowaccounts.appflow.connectorinfo.dev --timeout=60s >/dev/null

echo "==> starting the operator (log: $work/operator.log)"
AWS_ACCESS_KEY_ID=AKIDDEMO AWS_SECRET_ACCESS_KEY=demo AWS_EC2_METADATA_DISABLED=true \
  "$operator" run --endpoint-url "$endpoint" --region us-east-1 --health-addr 127.0.0.1:0 --metrics-addr 127.0.0.1:0 \
  >"$work/operator.log" 2>&1 &
pids+=($!)

echo "==> applying deploy/samples"
kubectl apply -f deploy/samples/
kubectl wait --for=condition=Ready conninfo/salesforce conninfo/datadog conninfo/snowflake conninfo/acme-crm --timeout=90s
kubectl wait --for=jsonpath='{.status.conditions[?(@.type=="Ready")].reason}'=RequirementsNotMet \
  conninfo/slack-as-destination --timeout=90s

echo "==> applying deploy/samples/accounts (two teams, two AWS accounts)"
kubectl apply -f deploy/samples/accounts/
kubectl wait --for=condition=Ready -n team-a conninfo/crm --timeout=90s
kubectl wait --for=condition=Ready -n team-b conninfo/erp --timeout=90s
kubectl wait --for=condition=Ready afaccount/team-a afaccount/team-b --timeout=90s
kubectl get afaccount
kubectl get conninfo -A -o wide

echo
kubectl get conninfo -o wide
echo
echo "==> status of conninfo/acme-crm"
kubectl get conninfo acme-crm -o jsonpath='{.status}' | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin), indent=2))'
echo
echo "kubeconfig: $kubeconfig"
echo "try:        KUBECONFIG=$kubeconfig $bin/kubectl get conninfo"
[[ -n ${DEMO_EXIT:-} ]] && exit 0
echo "Ctrl-C stops everything."
wait "${pids[@]}"
