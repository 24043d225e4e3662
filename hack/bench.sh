#!/usr/bin/env bash
# `make bench`: romanactl against the helm CLI built from the same SDK version, side by
# side, and the Go micro-benchmarks. Writes docs/benchmarks.md. The machine is shared
# and noisy: the figures are medians and ratios from one run, not absolutes.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-15}
out=docs/benchmarks.md
mkdir -p docs
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "bench: go test -bench (render, validation)"
go test -run '^$' -bench . -benchtime 300x -count 1 ./internal/... | grep -E '^Benchmark' > "$tmp/gobench.txt"

echo "bench: romanactl template vs helm template, $RUNS alternating runs each"
# A private helm home, so the user's repositories and plugins do not weigh on helm.
export HELM_CACHE_HOME=$tmp/helm HELM_CONFIG_HOME=$tmp/helm HELM_DATA_HOME=$tmp/helm
bin/benchcmp -runs "$RUNS" -base helm \
  "romanactl=bin/romanactl template --env=kubeadm" \
  "helm=bin/helm template romana ./chart -n kube-system -f chart/env/kubeadm.yaml" > "$tmp/template.md"

inittrace() { GODEBUG=inittrace=1 "$@" 2>&1 >/dev/null | awk '/^init /{ms+=$5; b+=$8; n++} END{printf "%d packages, %.1f ms, %.1f MiB allocated", n, ms, b/1048576}'; }
romanactl_init=$(inittrace bin/romanactl version)
helm_init=$(inittrace bin/helm version)

{
  echo "# Benchmarks"
  echo
  echo "Written by \`make bench\` (hack/bench.sh) on $(date -u +%Y-%m-%d), $(nproc) cores, $(go env GOVERSION),"
  echo "romanactl $(git describe --tags --always --dirty 2>/dev/null || echo dev), helm $(bin/helm version --template '{{.Version}}')."
  echo "Both binaries are static (CGO_ENABLED=0) and stripped (-s -w), as helm's release builds are."
  echo "The machine is shared and noisy: read the medians and ratios, from one run."
  echo
  echo "Reproduce: \`make bench\` (RUNS=$RUNS by default)."
  echo
  echo "## template: romanactl vs helm"
  echo
  echo "\`bin/romanactl template --env=kubeadm\` against \`bin/helm template romana ./chart -n kube-system -f chart/env/kubeadm.yaml\`,"
  echo "alternating, $RUNS measured runs each after 2 warm-ups; wall time from the parent, peak memory from wait4's max RSS."
  echo "Ratios are against helm. Target: romanactl at ≤ 0.7× on both."
  echo
  cat "$tmp/template.md"
  echo
  echo "### Where the rest goes: package init"
  echo
  echo "\`GODEBUG=inittrace=1\`, summed over the init lines of \`version\` (no rendering):"
  echo
  echo "- romanactl: $romanactl_init"
  echo "- helm: $helm_init"
  echo
  echo "Most of each binary's peak RSS is file-backed pages of the executable that package"
  echo "init touches (Kubernetes API schemes, jsonschema, oras, sql drivers that helm's"
  echo "action package pulls in); rendering itself adds ~1 MiB. romanactl saves its share by"
  echo "compiling values.schema.json once (Go validation runs it; the render then sets"
  echo "SkipSchemaValidation) and by reading the chart from memory."
  echo
  echo "## Go micro-benchmarks"
  echo
  echo "\`go test -run '^\$' -bench . -benchtime 300x ./internal/...\`"
  echo
  echo '```'
  cat "$tmp/gobench.txt"
  echo '```'
  if [ -f "$tmp/cluster.md" ]; then cat "$tmp/cluster.md"; fi
} > "$out"
echo "bench: wrote $out"
cat "$out"
