#!/usr/bin/env bash
# The node-backed demo: a control plane with a node (kubelet on containerd and runc, pods on a
# bridge the launcher creates), the operator image built without a daemon and imported into
# it, `helm install` of the chart, the AppFlow emulator on the node's address, and the samples
# — then it stays up until Ctrl-C. Builds whatever is missing first. Needs root (the node).
#
#   make demo-cluster          (or hack/demo/cluster.sh)
#   DEMO_EXIT=1 make demo-cluster   # show the result and stop
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"
work=$repo/.cache/demo-cluster
mkdir -p "$work"
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
node_ip=10.214.0.1 # the launcher's node address (hack/controlplane/cmd/controlplane/node.go)

echo "==> installing and building what is missing (first run takes a while)"
hack/node/install.sh
hack/release/install.sh # the image is built for both architectures
bin=$(hack/controlplane/build.sh --bin-dir) # KUBERNETES_VERSION picks the release (default 1.37)
helm=$(hack/helm/build.sh)
hack/build-static.sh >/dev/null 2>&1 || hack/build-static.sh
hack/image/build.sh | tail -1
cargo build --quiet -p appflow-emulator
image=$repo/target/image/appflow-connector-operator-$version.oci.tar

pids=()
cleanup() {
  trap - EXIT INT TERM
  echo
  echo "==> stopping (the launcher stops the pods, the node and the bridge)"
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  [[ -n ${CP_PID:-} ]] && { { echo stop >&"${CP[1]}"; } 2>/dev/null || true; wait "$CP_PID" 2>/dev/null || true; }
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

echo "==> starting etcd, kube-apiserver, controller-manager, scheduler, containerd and the kubelet"
coproc CP { hack/controlplane/up.sh "$work/cluster" --node --image "$image" 2>"$work/controlplane.log"; }
read -r -t 300 status kubeconfig <&"${CP[0]}" && [[ $status == READY ]] \
  || { echo "cluster failed: $status $kubeconfig (see $work/controlplane.log and $work/cluster/)" >&2; exit 1; }
export KUBECONFIG=$kubeconfig
kubectl() { "$bin/kubectl" "$@"; }

echo "==> starting the AppFlow emulator on the node's address"
exec {emu_out}< <(exec "$repo/target/debug/appflow-emulator" --listen "$node_ip:0" --data hack/demo/emulator-data.yaml 2>"$work/emulator.log")
pids+=($!)
read -r -t 30 line <&"$emu_out"
endpoint=${line##* }
echo "    $endpoint"

echo "==> helm install (image localhost/appflow-connector-operator:$version, pullPolicy Never)"
kubectl create namespace appflow-system >/dev/null
kubectl label namespace appflow-system pod-security.kubernetes.io/enforce=restricted >/dev/null
kubectl create secret generic aws -n appflow-system \
  --from-literal=AWS_ACCESS_KEY_ID=AKIDDEMO --from-literal=AWS_SECRET_ACCESS_KEY=demo >/dev/null
KUBECONFIG=$kubeconfig "$helm" install appflow charts/appflow-connector-operator -n appflow-system \
  --set image.repository=localhost/appflow-connector-operator --set "image.tag=$version" \
  --set image.pullPolicy=Never --set aws.region=us-east-1 --set "aws.endpointUrl=$endpoint" \
  --set aws.credentialsSecret.name=aws --wait --timeout 120s >/dev/null

echo "==> applying deploy/samples"
kubectl create namespace samples >/dev/null
kubectl apply -n samples -f deploy/samples/ >/dev/null
kubectl wait -n samples --for=condition=Ready conninfo/salesforce conninfo/datadog conninfo/snowflake conninfo/acme-crm --timeout=90s >/dev/null
kubectl wait -n samples --for=jsonpath='{.status.conditions[?(@.type=="Ready")].reason}'=RequirementsNotMet \
  conninfo/slack-as-destination --timeout=90s >/dev/null

echo
kubectl get pods,conninfo -A -o wide
echo
echo "kubeconfig: $kubeconfig"
echo "try:        KUBECONFIG=$kubeconfig $bin/kubectl logs -n appflow-system deploy/appflow-appflow-connector-operator"
[[ -n ${DEMO_EXIT:-} ]] && exit 0
echo "Ctrl-C stops everything."
wait "${pids[@]}"
