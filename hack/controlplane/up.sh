#!/usr/bin/env bash
# Runs a local Kubernetes control plane (etcd + kube-apiserver) in the
# foreground, building it first if needed:
#
#   [KUBERNETES_VERSION=1.33] hack/controlplane/up.sh [WORK_DIR] [extra controlplane flags...]
#
# KUBERNETES_VERSION picks the release (default 1.37; build.sh lists the others);
# APPFLOW_CONTROLPLANE_BIN_DIR, as for build.sh, where its binaries are.
# WORK_DIR defaults to <repo>/.cache/controlplane/run and is kept on exit
# (logs: etcd.log, kube-apiserver.log); each run still starts a fresh cluster.
# stdout carries only the launcher's protocol: `READY <kubeconfig>` once the
# apiserver is ready (again after each restart), `ERROR <msg>` on failure.
# stdin takes `restart-apiserver` and `stop`; EOF on stdin also stops it, so in
# a terminal Ctrl-D or Ctrl-C ends it.
#
# From a script, use a coprocess: it keeps stdin open (a plain `up.sh &` in a
# script gets /dev/null as stdin, i.e. immediate EOF, and stops at once):
#
#   coproc CP { hack/controlplane/up.sh; }
#   read -r -t 300 status kubeconfig <&"${CP[0]}" && [[ $status == READY ]] \
#     || { echo "control plane failed: $status $kubeconfig" >&2; exit 1; }
#   bin=$(hack/controlplane/build.sh --bin-dir)
#   kubectl() { "$bin/kubectl" --kubeconfig "$kubeconfig" "$@"; }
#   kubectl get ns
#   echo restart-apiserver >&"${CP[1]}"; read -r -t 120 status _ <&"${CP[0]}"
#   echo stop >&"${CP[1]}"; wait "$CP_PID"
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
work=$repo/.cache/controlplane/run
if [[ $# -gt 0 && $1 != -* ]]; then work=$1; shift; fi

# Only the directory is captured: stdout is kept for the READY protocol.
bin=$("$here/build.sh" --bin-dir)
exec "$bin/controlplane" --bin-dir "$bin" --work-dir "$work" --keep "$@"
