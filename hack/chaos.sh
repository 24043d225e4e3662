#!/usr/bin/env bash
# Runs the fault tests (cmd/romanactl/faults_test.go) on the real control plane and
# writes their figures into the "Faults" section of docs/benchmarks.md. The same tests
# run in `make test`; this target exists to record the figures.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp)
trap 'rm -f "$out"' EXIT
start=$(date +%s)
ROMANACTL_HELM="$PWD/bin/helm" ROMANACTL_CHAOS_OUT="$out" go test -count=1 -timeout 15m ./cmd/romanactl/ \
  -run 'TestClusterSIGKILL|TestClusterLeaseLost|TestClusterAPIServerDown|TestClusterConcurrentCommands|TestClusterRomanactlAndHelmAtOnce|TestClusterFaultProxy|TestClusterPasswordSurvivesFailedAtomicInstall' -v \
  | tee /dev/stderr | grep -E '^(=== RUN|--- (PASS|FAIL)|    faults_test.go:[0-9]+: (SIGKILL|10 |upgrade with))' > "$out.log" || { echo "chaos: tests failed" >&2; exit 1; }
took=$(( $(date +%s) - start ))
{
  echo "## Faults"
  echo
  echo "Written by \`make chaos\` on $(date -u +%Y-%m-%d) at $(git describe --always --dirty), ${took} s for the fault tests on this 2-core machine."
  echo
  echo "| fault | setup | outcome |"
  echo "|---|---|---|"
  cat "$out"
  grep -E '10 (installs|upgrades):' "$out.log" | sed -E 's/^ *faults_test.go:[0-9]+: (10 [a-z]+): (.*)$/| concurrent \1 | 10 romanactl processes started at once (for upgrades the proxy holds the winner'"'"'s DaemonSet update 3 s) | \2; exactly one new revision, 0 rollbacks |/'
  grep -E 'upgrade with 2 s per request' "$out.log" | sed -E 's/^ *faults_test.go:[0-9]+: (.*)$/| slow API | every request delayed 2 s by the proxy, --timeout=60s | \1 |/'
  echo
  echo "Every test also asserts: the release ends \`deployed\`, \`helm list\` agrees, no \`pending-*\` record is left, the live DaemonSets run the deployed revision's images, and the datastore password is unchanged."
} > "$out.md"
# Replace the Faults section (to the next "## " heading or the end) in docs/benchmarks.md.
awk -v f="$out.md" '
  /^## Faults/ { while ((getline l < f) > 0) print l; skip=1; next }
  skip && /^## / { skip=0 }
  !skip { print }
' docs/benchmarks.md > docs/benchmarks.md.new
grep -q '^## Faults' docs/benchmarks.md.new || { echo; cat "$out.md"; } >> docs/benchmarks.md.new
mv docs/benchmarks.md.new docs/benchmarks.md
rm -f "$out.md" "$out.log"
echo "chaos: docs/benchmarks.md updated"
