#!/usr/bin/env bash
# `make bench-scale`: romanactl at 10, 100 and 1,000 simulated worker nodes
# (hack/benchscale), written to the "At scale" section of docs/benchmarks.md.
#   SIZES=10,100 hack/bench-scale.sh      (default 10,100,1000)
# One cluster per size; the 1,000-node run takes a few minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${SIZES:-10,100,1000}
version=$(git describe --tags --always --dirty 2>/dev/null || echo dev)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o bin/benchscale ./hack/benchscale
bin/benchscale -bin bin -romanactl bin/romanactl -sizes "$SIZES" -o "$tmp/table.md"
{
  echo "## At scale"
  echo
  echo "Written by \`make bench-scale\` (hack/bench-scale.sh) on $(date -u +%Y-%m-%d), $(nproc) cores, romanactl $version, Kubernetes $(cut -d' ' -f1 bin/${ROMANACTL_K8S:-1.37}/.version)."
  echo "One local control plane per size (1 control-plane node + the workers, kwok), each command a process of the real binary with \`--debug\`:"
  echo "wall time, peak RSS (wait4), API requests (every request romanactl made, from its debug log; \"in the wait\" = after \"waiting for Romana\" until \"ready:\"),"
  echo "and the wait's detection lag: from the moment a separate watch sees both DaemonSets fully rolled out at their new generation to romanactl printing \"ready:\"."
  echo "The runs use \`--tag=$(grep -o 'installTag = "[^"]*"' hack/benchscale/main.go | cut -d'"' -f2) --nodes=1024\`: v0.9.3's services fix the address plan at 256 nodes, and the \`plan-capacity\` pre-flight refuses a larger cluster for them."
  echo
  cat "$tmp/table.md"
  if [ -f docs/scale-findings.md ]; then echo; cat docs/scale-findings.md; fi
} > "$tmp/section.md"
# Replace the "At scale" section (to the next "## " heading or the end), or add it
# before "## Faults".
awk -v f="$tmp/section.md" '
  /^## At scale/ { while ((getline l < f) > 0) print l; print ""; skip=1; done=1; next }
  /^## Faults/ && !done { while ((getline l < f) > 0) print l; print ""; done=1 }
  skip && /^## / { skip=0 }
  !skip { print }
' docs/benchmarks.md > docs/benchmarks.md.new
grep -q '^## At scale' docs/benchmarks.md.new || { echo; cat "$tmp/section.md"; } >> docs/benchmarks.md.new
mv docs/benchmarks.md.new docs/benchmarks.md
echo "bench-scale: docs/benchmarks.md updated"
cat "$tmp/section.md"
