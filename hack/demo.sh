#!/usr/bin/env bash
# `make demo`: a local control plane with one control-plane node and three simulated
# workers, Romana installed on it by romanactl, and its status. The cluster stays up.
set -euo pipefail
cd "$(dirname "$0")/.."
export KUBECONFIG="$PWD/.cluster/kubeconfig"
bin/cluster up --dir .cluster --bin bin --workers 3
echo
if bin/romanactl history >/dev/null 2>&1; then
  echo "+ romanactl upgrade --env=auto   # the release exists already (an earlier make demo)"
  bin/romanactl upgrade --env=auto --wait
else
  echo "+ romanactl install --env=auto --wait"
  bin/romanactl install --env=auto --wait
fi
echo
echo "+ romanactl status"
bin/romanactl status
cat <<MSG

The cluster is still running. To use it:
  export KUBECONFIG=$KUBECONFIG
  bin/romanactl status; bin/kubectl -n kube-system get pods -o wide; bin/helm list -n kube-system
Tear it down with:
  make cluster-down
MSG
