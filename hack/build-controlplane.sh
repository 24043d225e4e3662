#!/usr/bin/env bash
# Builds the local control plane from the Go module proxy:
#   bin/<minor>/  kube-apiserver, kube-controller-manager, kube-scheduler of one
#                 Kubernetes minor, pinned by test/controlplane/<minor>/go.mod;
#   bin/          etcd, kubectl, kwok and kwok-stages.yaml, shared by every minor and
#                 built from the newest minor's module.
#
#   hack/build-controlplane.sh [MINOR]     (default: the newest under test/controlplane)
#
# It is incremental: a stamp file records what was built, and each part is skipped
# when its binaries exist and the stamp matches the pins. The first build of a minor
# takes ~15 minutes on 2 cores; Go's build cache makes later rebuilds take seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

KWOK_VERSION=v0.8.0
BIN="$PWD/bin"
NEWEST=$(ls test/controlplane | sort -V | tail -1)
MINOR=${1:-$NEWEST}
MOD="test/controlplane/$MINOR"
if [ ! -f "$MOD/go.mod" ]; then
  echo "control plane: no module for Kubernetes $MINOR under test/controlplane (have: $(ls test/controlplane | sort -V | tr '\n' ' '))" >&2
  echo "  add one with: hack/controlplane-mod.sh v$MINOR.<patch>" >&2
  exit 2
fi
# The one source of each version: the module's require line.
pinned() { awk '$1=="k8s.io/kubernetes" {print $2} $1=="require" && $2=="k8s.io/kubernetes" {print $3}' "test/controlplane/$1/go.mod" | head -1; }
mkdir -p "$BIN/$MINOR"

# The components of the minor.
K8S_VERSION=$(pinned "$MINOR")
STAMP="$BIN/$MINOR/.version"
# The stamp also names the recipe, so a change to how the binaries are built rebuilds them.
RECIPE=2
if [ -x "$BIN/$MINOR/kube-apiserver" ] && [ -x "$BIN/$MINOR/kube-controller-manager" ] && [ -x "$BIN/$MINOR/kube-scheduler" ] &&
   [ "$(cat "$STAMP" 2>/dev/null)" = "$K8S_VERSION recipe=$RECIPE" ]; then
  echo "control plane $MINOR: up to date ($K8S_VERSION)"
else
  # Without the stamp, components report v0.0.0-master and Helm's capabilities (and
  # the chart's kubeVersion check) see a nonsense version. Both packages, as
  # Kubernetes's own hack/lib/version.sh does: until 1.26 the aggregator, which
  # serves /version, read client-go's copy.
  LDFLAGS="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    LDFLAGS="$LDFLAGS -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=${MINOR#1.}"
  done
  echo "control plane $MINOR: building $K8S_VERSION into bin/$MINOR/ (first build ~15 min on 2 cores)"
  start=$(date +%s)
  for c in kube-apiserver kube-controller-manager kube-scheduler; do
    echo "  building $c"
    (cd "$MOD" && go build -trimpath -ldflags "$LDFLAGS" -o "$BIN/$MINOR/$c" "k8s.io/kubernetes/cmd/$c")
  done
  echo "$K8S_VERSION recipe=$RECIPE" > "$STAMP"
  echo "control plane $MINOR: built in $(( $(date +%s) - start )) s"
fi

# The shared tools, from the newest minor's module.
TOOLS_STAMP="$BIN/.tools-version"
TOOLS_WANT="kubernetes=$(pinned "$NEWEST") etcd=$(awk '$1=="go.etcd.io/etcd/server/v3" {print $2}' "test/controlplane/$NEWEST/go.mod") kwok=$KWOK_VERSION"
STAGES="$BIN/kwok-stages.yaml"
if [ -x "$BIN/etcd" ] && [ -x "$BIN/kubectl" ] && [ -x "$BIN/kwok" ] && [ -f "$STAGES" ] && [ "$(cat "$TOOLS_STAMP" 2>/dev/null)" = "$TOOLS_WANT" ]; then
  echo "control plane tools: up to date ($TOOLS_WANT)"
  exit 0
fi
echo "control plane tools: building $TOOLS_WANT into bin/"
V=$(pinned "$NEWEST")
(
  cd "test/controlplane/$NEWEST"
  echo "  building kubectl"
  go build -trimpath -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$V -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${NEWEST#1.}" -o "$BIN/kubectl" k8s.io/kubernetes/cmd/kubectl
  echo "  building etcd"
  go build -trimpath -ldflags "-s -w" -o "$BIN/etcd" go.etcd.io/etcd/server/v3
)
echo "  building kwok"
GOBIN="$BIN" GOFLAGS=-buildvcs=false go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
# kwok refuses to start without stages ("no stages found"). Its module ships them as
# YAML; concatenate the ones a fast simulated cluster needs into one file.
kwokdir=$(GOFLAGS=-mod=mod go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
: > "$STAGES"
for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
         pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
  { echo "---"; cat "$kwokdir/kustomize/stage/$f"; } >> "$STAGES"
done
# Binaries of the layout before bin/<minor>/ would only mislead.
rm -f "$BIN/kube-apiserver" "$BIN/kube-controller-manager" "$BIN/kube-scheduler" "$BIN/.controlplane-version"
echo "$TOOLS_WANT" > "$TOOLS_STAMP"
echo "control plane tools: done"
