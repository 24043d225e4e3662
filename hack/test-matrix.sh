#!/usr/bin/env bash
# make test-matrix: the real-cluster suite on every Kubernetes minor the project
# builds (test/controlplane/<minor>/), then docs/compat.md from the results.
#
#   MINORS="1.25 1.37" hack/test-matrix.sh     (default: every minor)
#
# Each minor's control plane is built first (incremental; ~15 min the first time).
# It exits non-zero when any test failed on any minor; docs/compat.md is written
# either way, so a failure is recorded, not hidden.
set -euo pipefail
cd "$(dirname "$0")/.."
MINORS=${MINORS:-$(ls test/controlplane | sort -V)}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
args=()
for m in $MINORS; do
  hack/build-controlplane.sh "$m"
  v=$(cut -d" " -f1 "bin/$m/.version")
  echo "== Kubernetes $v: go test -run TestCluster ./cmd/romanactl ./internal/testcluster"
  start=$(date +%s)
  ROMANACTL_K8S=$m ROMANACTL_HELM="$PWD/bin/helm" ROMANACTL_HELM4="$PWD/bin/helm4" go test -count=1 -json -timeout 30m -run 'TestCluster' ./cmd/romanactl ./internal/testcluster > "$out/$m.json" || true
  echo "   $(( $(date +%s) - start )) s"
  args+=("$m=$v:$out/$m.json")
done
commit=$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . ':!docs/compat.md' || echo "+uncommitted")
go run ./hack/compatmd -o docs/compat.md -commit "$commit" -go "$(go env GOVERSION)" "${args[@]}"
echo "wrote docs/compat.md"
