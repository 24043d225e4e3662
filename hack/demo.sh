#!/usr/bin/env bash
# `make demo`: a local control plane with one control-plane node and three simulated
# workers, Romana installed on it by romanactl, and its status. The cluster stays up.
# With REAL_NODES=N (N >= 1), control-plane-0 and N workers are real nodes that run
# Romana's own v0.9.3.5 programs (RUNTIME=docker|containerd is what each emulates);
# with N >= 2 the demo ends with a pod on worker-0 and one on worker-1 pinging each
# other through Romana's routes.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${BIN:-bin}
real=${REAL_NODES:-0}
export KUBECONFIG="$PWD/.cluster/kubeconfig"
"$bin/cluster" up --dir .cluster --bin "$bin" --workers 3 --real-nodes "$real" --runtime "${RUNTIME:-docker}"
echo
# Real nodes start Romana's services for real (MariaDB first, then the services, then
# the agents): more than kwok's instant pods.
timeout=5m
[ "$real" -gt 0 ] && timeout=10m
if "$bin/romanactl" history >/dev/null 2>&1; then
  echo "+ romanactl upgrade --env=auto --wait   # the release exists already (an earlier make demo)"
  "$bin/romanactl" upgrade --env=auto --wait --timeout=$timeout
else
  echo "+ romanactl install --env=auto --wait"
  "$bin/romanactl" install --env=auto --wait --timeout=$timeout
fi

# waitfor SECONDS WHAT CMD...: runs CMD every 3 s until it succeeds, at most SECONDS.
waitfor() {
  local secs=$1 what=$2; shift 2
  local until=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= until)); then echo "demo: $what: not after $secs s (the real nodes' container logs: .cluster/tmp/romana-node-*/pods/*/*/log)" >&2; return 1; fi
    sleep 3
  done
}
# On real nodes the services restart until MariaDB answers (run-romana-services exits
# 1 before), as on a real cluster: status is healthy a little after install's wait.
[ "$real" -gt 0 ] && waitfor 180 "romanactl status healthy" "$bin/romanactl" status
echo
echo "+ romanactl status"
"$bin/romanactl" status
if [ "$real" -ge 2 ]; then
  echo
  # Each agent registers its node, sleeps 42 s (Romana's own agent does), then installs
  # the CNI plugin and config and routes to the other nodes' blocks.
  echo "+ waiting for Romana's CNI config on worker-0 and worker-1 and routes between them (the agents sleep 42 s after registering)"
  for pair in "worker-0 172.18.0.12" "worker-1 172.18.0.11"; do
    set -- $pair
    waitfor 300 "Romana's CNI config on $1" "$bin/cluster" exec --dir .cluster "$1" -- test -e /etc/cni/net.d/10-romana.conf
    waitfor 300 "a route on $1 via $2" sh -c "'$bin/cluster' exec --dir .cluster $1 -- ip -4 route | grep -q 'via $2 '"
    echo "+ $bin/cluster exec $1 -- ip -4 route"
    "$bin/cluster" exec --dir .cluster "$1" -- ip -4 route
  done
  for p in demo-a demo-b; do "$bin/cluster" pod del --dir .cluster "$p" >/dev/null 2>&1 || true; done
  echo "+ $bin/cluster pod add worker-0 demo-a"
  a=$("$bin/cluster" pod add --dir .cluster worker-0 demo-a)
  echo "$a"
  echo "+ $bin/cluster pod add worker-1 demo-b"
  b=$("$bin/cluster" pod add --dir .cluster worker-1 demo-b)
  echo "$b"
  echo "+ $bin/cluster pod exec demo-a -- ping -c 3 $b"
  "$bin/cluster" pod exec --dir .cluster demo-a -- ping -c 3 -W 2 "$b"
  echo "+ $bin/cluster pod exec demo-b -- ping -c 3 $a"
  "$bin/cluster" pod exec --dir .cluster demo-b -- ping -c 3 -W 2 "$a"
fi
cat <<MSG

The cluster is still running. To use it:
  export KUBECONFIG=$KUBECONFIG
  $bin/romanactl status; $bin/kubectl -n kube-system get pods -o wide; $bin/helm list -n kube-system
MSG
if [ "$real" -gt 0 ]; then
  cat <<MSG
  $bin/cluster exec worker-0 -- ip route          # a command on a real node
  $bin/cluster pod add worker-0 mypod             # a pod through the node's CNI plugin; prints its address
  $bin/cluster pod exec mypod -- ip addr          # a command in the pod
  $bin/cluster pod del mypod
MSG
fi
cat <<MSG
Tear it down with:
  make cluster-down
MSG
