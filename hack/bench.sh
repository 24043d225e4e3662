#!/usr/bin/env bash
# `make bench`: romanactl against the helm CLI built from the same SDK version, side by
# side, and the Go micro-benchmarks. Writes docs/benchmarks.md. The machine is shared
# and noisy: the figures are medians and ratios from one run, not absolutes.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-15}
# Taken before docs/benchmarks.md is rewritten, which would make the tree look dirty.
version=$(git describe --tags --always --dirty 2>/dev/null || echo dev)
out=docs/benchmarks.md
mkdir -p docs
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
command -v jq >/dev/null || { apt-get update -qq && apt-get install -y -qq jq; }

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

# On the local control plane (its own directory, so a `make demo` cluster is untouched).
echo "bench: cluster benchmarks on a local control plane"
bin/cluster up --dir .bench-cluster --bin bin --workers 3 >/dev/null
trap 'bin/cluster down --dir .bench-cluster >/dev/null; rm -rf "$tmp"' EXIT
export KUBECONFIG=$PWD/.bench-cluster/kubeconfig
export BENCH_RENDERED=$tmp/rendered.yaml
# The release's objects without the helm-test hook: what an install applies.
bin/romanactl template --env=kubeadm | awk '/^---$/{doc=""} /# Source: romana\/templates\/tests\//{skip=1} /^---$/{skip=0} !skip' > "$BENCH_RENDERED"
CRUNS=${CLUSTER_RUNS:-10}
bin/benchcmp -runs "$CRUNS" -warmup 1 -before hack/bench-reset.sh -base helm,kubectl-apply \
  "romanactl=bin/romanactl install --wait=false" \
  "helm=bin/helm install romana ./chart -n kube-system" \
  "kubectl-apply=bin/kubectl apply -f $BENCH_RENDERED" > "$tmp/install.md"
hack/bench-reset.sh
bin/romanactl install --wait=false >/dev/null
revs_before=$(bin/helm history romana -n kube-system -o json | jq length)
bin/benchcmp -runs "$CRUNS" -warmup 1 -base helm-upgrade \
  "romanactl-noop=bin/romanactl upgrade" \
  "helm-upgrade=bin/helm upgrade romana ./chart -n kube-system --reuse-values" > "$tmp/upgrade.md"
# romanactl's no-op must write nothing: count revisions over runs of it alone.
revs_mid=$(bin/helm history romana -n kube-system --max 100 -o json | jq 'map(.revision) | max')
for _ in 1 2 3 4 5; do bin/romanactl upgrade >/dev/null; done
revs_after=$(bin/helm history romana -n kube-system --max 100 -o json | jq 'map(.revision) | max')
{
  echo
  echo "## On the local control plane"
  echo
  echo "A real kube-apiserver and etcd with kube-controller-manager, kube-scheduler and kwok"
  echo "(one control-plane node, three simulated workers), started by \`bin/cluster up\`. $CRUNS"
  echo "measured runs each after 1 warm-up, alternating; before every install run"
  echo "\`hack/bench-reset.sh\` removes what the previous one created (not measured)."
  echo
  echo "### install"
  echo
  echo "\`romanactl install --wait=false\` (pre-flight included) against \`helm install romana ./chart -n kube-system\`"
  echo "and \`kubectl apply -f\` of the same rendered objects (the floor: no release record, no checks)."
  echo "Targets: ≤ 1.0× helm and ≤ 1.1× kubectl apply, with the Lease and the pod-admission dry run included."
  echo
  cat "$tmp/install.md"
  echo
  echo "### no-op upgrade"
  echo
  echo "\`romanactl upgrade\` with nothing to change against \`helm upgrade romana ./chart -n kube-system --reuse-values\`."
  echo "Target: < 0.2× helm upgrade, with zero writes (no Lease is taken). The no-op lists the release's records by"
  echo "their metadata and reads the newest alone; its dry run neither reads the history again nor rewrites the"
  echo "kubeconfig's discovery cache."
  echo
  cat "$tmp/upgrade.md"
  echo
  echo "Writes: the highest revision was $revs_mid before 5 more \`romanactl upgrade\` no-ops and $revs_after after"
  echo "(helm upgrade wrote a revision per run: $revs_before revision(s) before the comparison, $revs_mid after)."
} > "$tmp/cluster.md"
helm_init=$(inittrace bin/helm version)

# The Faults section belongs to `make chaos` (hack/chaos.sh) and "At scale" to `make
# bench-scale`: carry them over.
faults=$tmp/faults.md
awk '/^## Faults/{keep=1} keep' "$out" > "$faults" 2>/dev/null || : > "$faults"
scale=$tmp/scale.md
awk '/^## At scale/{keep=1; print; next} keep && /^## /{keep=0} keep' "$out" > "$scale" 2>/dev/null || : > "$scale"
{
  echo "# Benchmarks"
  echo
  echo "Written by \`make bench\` (hack/bench.sh) on $(date -u +%Y-%m-%d), $(nproc) cores, $(go env GOVERSION),"
  echo "romanactl $version, helm $(bin/helm version --template '{{.Version}}')."
  echo "Both binaries are static (CGO_ENABLED=0) and stripped (-s -w), as helm's release builds are."
  echo "The machine is shared and noisy: read the medians and ratios, from one run."
  echo
  echo "Reproduce: \`make bench\` (RUNS=$RUNS by default)."
  echo
  echo "## template: romanactl vs helm"
  echo
  echo "\`bin/romanactl template --env=kubeadm\` against \`bin/helm template romana ./chart -n kube-system -f chart/env/kubeadm.yaml\`,"
  echo "alternating, $RUNS measured runs each after 2 warm-ups; wall time from the parent, peak memory from wait4's max RSS."
  echo "Ratios are against helm. Target: romanactl at ≤ 0.6× wall time."
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
  echo "Findings. What romanactl does less than helm: it checks the values in Go and compiles values.schema.json"
  echo "once (the render sets SkipSchemaValidation); for its own chart the render leaves the chart's romana.validate"
  echo "out, since Go holds every rule of it (a --chart keeps its own helper), which was a third of a render's"
  echo "allocations; the image-tag pattern is \`*\` with maxLength 128, not a {0,127} repetition that compiled into"
  echo "127 regexp states at start and twice in the schema; the garbage collector's target is 400 while it starts and"
  echo "for the offline commands (package startup; init allocates ~6.5 MiB that lives as long as the process), so a"
  echo "template run does not collect at all where it collected three times; and it reads the chart from memory. Peak memory is"
  echo "dominated by file-backed pages of the executable that package init touches (Kubernetes API schemes,"
  echo "jsonschema, oras, the SQL storage drivers that Helm's action package pulls in), and romanactl links the same"
  echo "SDK as helm does, plus client-go for its cluster commands. Because file-backed RSS depends on the page cache,"
  echo "the ratio moves between runs; a binary just written by the Go linker showed ~5 MiB more peak RSS than a"
  echo "copy of the same file, so compare copies."
  echo
  echo "## Go micro-benchmarks"
  echo
  echo "\`go test -run '^\$' -bench . -benchtime 300x ./internal/...\`"
  echo
  echo '```'
  cat "$tmp/gobench.txt"
  echo '```'
  if [ -f "$tmp/cluster.md" ]; then cat "$tmp/cluster.md"; fi
  if [ -s "$scale" ]; then echo; cat "$scale"; fi
  if [ -s "$faults" ]; then echo; cat "$faults"; fi
} > "$out.new"
mv "$out.new" "$out"
echo "bench: wrote $out"
cat "$out"
