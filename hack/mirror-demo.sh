#!/usr/bin/env bash
# `make mirror-demo`: the private-registry flow between two local plain-HTTP registries,
# as a new user would run it. The source stands in for quay.io/romana: it is seeded with
# random images under the chart's names (agent as a two-platform index).
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=${SRC:-127.0.0.1:5001}
DST=${DST:-127.0.0.1:5002}
bin/registry --addr "$SRC" --seed romana --tag v0.9.3.5 > /tmp/romanactl-src-registry.log 2>&1 &
src_pid=$!
bin/registry --addr "$DST" > /tmp/romanactl-dst-registry.log 2>&1 &
dst_pid=$!
trap 'kill $src_pid $dst_pid 2>/dev/null || true' EXIT
for _ in $(seq 50); do grep -q listening /tmp/romanactl-src-registry.log 2>/dev/null && grep -q listening /tmp/romanactl-dst-registry.log 2>/dev/null && break; sleep 0.1; done
run() { echo "+ $*"; "$@"; echo; }
run bin/romanactl images list --registry "$SRC/romana"
run bin/romanactl images mirror --registry "$SRC/romana" --to "$DST/romana" --insecure --dry-run
run bin/romanactl images mirror --registry "$SRC/romana" --to "$DST/romana" --insecure
run bin/romanactl images mirror --registry "$SRC/romana" --to "$DST/romana" --insecure
run bin/romanactl template --registry "$DST/romana" | grep 'image:'
