#!/usr/bin/env bash
# `make bench-cni`: the CNI plugin's ADD and DEL time on the real-program tier
# (cmd/romanactl's TestBenchCNI, hack/cnitimer on the node), romanactl's plugin on a
# containerd-style node next to v0.9.3.5's own on a Docker-style node. Writes the
# "CNI plugin: ADD and DEL" section of docs/benchmarks.md. Two real clusters, one
# after the other: about 5 to 10 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(git describe --tags --always --dirty 2>/dev/null || echo dev)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
start=$(date +%s)
ROMANACTL_BENCH_CNI_OUT="$tmp/figures.md" go test -count=1 -timeout 15m -run '^TestBenchCNI$' -v ./cmd/romanactl/ \
  | tee "$tmp/test.log" | grep -E '^(=== RUN|--- |    bench_cni_test.go:[0-9]+: [a-z]+( plugin on|: ADD|: failed)|FAIL|ok )' || true
if ! grep -q '^--- PASS: TestBenchCNI ' "$tmp/test.log" || [ ! -s "$tmp/figures.md" ]; then
  keep=$(mktemp /tmp/bench-cni-XXXXXX.log); cp "$tmp/test.log" "$keep"
  echo "bench-cni: the bench failed; docs/benchmarks.md is unchanged. Its failures (the whole log: $keep):" >&2
  grep -v '^\s*>' "$keep" | grep -A15 -E '^ +bench_cni_test.go:[0-9]+: (cnitimer|the .* plugin never|no figures)|^ +(real_test|real_cni_test).go:[0-9]+:' >&2 || tail -n 80 "$keep" >&2
  exit 1
fi
took=$(( $(date +%s) - start ))
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
{
  echo "## CNI plugin: ADD and DEL"
  echo
  echo "Written by \`make bench-cni\` (hack/bench-cni.sh) on $(date -u +%Y-%m-%d), $(nproc) cores, romanactl $version, ${took} s in all."
  echo "Each plugin on its own real-program cluster (\`control-plane-0\` and \`worker-0\` running Romana v0.9.3.5's programs, installed by romanactl):"
  echo "on \`worker-0\`, 100 pods one after another, each ADD and then DEL of the installed \`/opt/cni/bin/romana\`, exec'd as the container runtime does"
  echo "(CNI_* in the environment, \`/etc/cni/net.d\`'s configuration on stdin) by \`hack/cnitimer\` running as the node's own program; wall time of each exec."
  echo "romanactl's plugin runs on a containerd-style node (pod namespaces from \`ip netns add\`, \`/var/run/netns/NAME\`), v0.9.3.5's own on a Docker-style one"
  echo "(\`romana-cni-wrapper\` runs \`docker run quay.io/romana/cni\`, the node's docker emulation running the image's script; namespaces \`/proc/PID/ns/net\` of \`unshare -n sleep\`)."
  echo "The namespaces are made before the timing. Each pod is a Pending Pod object (its node selector matches no node) for kube-cni-proxy's \`kubectl get pod\`."
  echo "The machine is shared with other engineers' real-cluster runs: load average $load_before (1, 5, 15 min) before the run and $load_after after it. Read the ratios; the absolutes move with the load."
  echo
  echo "Reproduce: \`make bench-cni\` (\`go test -run '^TestBenchCNI\$' -v ./cmd/romanactl/\` with \`ROMANACTL_BENCH_CNI_OUT=FILE\`; run as root, after \`make build romana-bin romana-cni controlplane host-tools\`)."
  echo
  cat "$tmp/figures.md"
  if [ -f docs/cni-bench-findings.md ]; then echo; cat docs/cni-bench-findings.md; fi
} > "$tmp/section.md"
# Replace the section (to the next "## " heading or the end), or add it before "## Faults".
awk -v f="$tmp/section.md" '
  /^## CNI plugin: ADD and DEL/ { while ((getline l < f) > 0) print l; print ""; skip=1; done=1; next }
  /^## Faults/ && !done { while ((getline l < f) > 0) print l; print ""; done=1 }
  skip && /^## / { skip=0 }
  !skip { print }
' docs/benchmarks.md > docs/benchmarks.md.new
grep -q '^## CNI plugin: ADD and DEL' docs/benchmarks.md.new || { echo; cat "$tmp/section.md"; } >> docs/benchmarks.md.new
mv docs/benchmarks.md.new docs/benchmarks.md
echo "bench-cni: docs/benchmarks.md updated"
cat "$tmp/section.md"
