# romanactl. `make test` is what CI runs; `make help` lists the targets.
SHELL := /bin/bash
GO    ?= go
BIN   := $(CURDIR)/bin

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
# The Helm SDK version go.mod pins: bin/helm is built from exactly this version.
HELM_VERSION := $(shell $(GO) list -m -f '{{.Version}}' helm.sh/helm/v3)
# Helm's own release builds stamp the Kubernetes version its client-go speaks into
# chartutil (capabilities) and lint; bin/helm gets the same stamps as a released helm.
K8S_MINOR := $(shell $(GO) list -m -f '{{.Version}}' k8s.io/client-go | cut -d. -f2)
HELM_LDFLAGS := -s -w -X helm.sh/helm/v3/internal/version.version=$(HELM_VERSION) \
	-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$(K8S_MINOR) \
	-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$(K8S_MINOR)
LDFLAGS := -s -w -X main.version=$(VERSION)
# Static binaries, as helm's own release builds are (its Makefile: CGO_ENABLED ?= 0).
# bin/helm and bin/romanactl are built alike so that `make bench` compares like with like.
CGO_ENABLED ?= 0
export CGO_ENABLED

.PHONY: romana-bin host-tools help demo mirror-demo build helm helm4 chart-package chart-push romana-cni image image-push FORCE controlplane cluster-bin cluster-up cluster-down test test-cluster test-matrix test-unit chaos golden docs release fuzz bench bench-scale bench-cni lint fmt clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

# Real nodes for cluster-up and demo: REAL_NODES workers, and control-plane-0, run by
# this machine with Romana's own programs (make romana-bin first), next to kwok's
# workers; RUNTIME is the container runtime each emulates (docker or containerd).
REAL_NODES ?= 0
RUNTIME    ?= docker
REAL_DEPS  := $(if $(filter-out 0,$(REAL_NODES)),romana-bin romana-cni)

demo: build controlplane cluster-bin $(REAL_DEPS) ## local cluster + romanactl install --env=auto --wait + status (leaves the cluster up); REAL_NODES=2 ends with two pods on two real nodes pinging each other
	BIN=$(BIN) REAL_NODES=$(REAL_NODES) RUNTIME=$(RUNTIME) hack/demo.sh

build: ## build bin/romanactl
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/romanactl ./cmd/romanactl

# A release: one static binary per platform (default linux and darwin, amd64 and arm64;
# the list is hack/release's), each with its CycloneDX SBOM, and SHA256SUMS.
RELEASE_DIR       ?= dist/release
RELEASE_PLATFORMS ?=

release: ## cross-compile static romanactl binaries for linux and darwin, amd64 and arm64, into dist/release/ with SHA256SUMS and a CycloneDX SBOM per binary (RELEASE_PLATFORMS="linux/amd64" for fewer)
	$(GO) run ./hack/release -go "$(GO)" -version "$(VERSION)" -ldflags "$(LDFLAGS)" -out "$(RELEASE_DIR)" -platforms "$(RELEASE_PLATFORMS)"

helm: ## build bin/helm from the helm.sh/helm/v3 version go.mod pins (skipped when current)
	@if [ -x $(BIN)/helm ] && [ "$$(cat $(BIN)/.helm-version 2>/dev/null)" = "$(HELM_VERSION) k8s=1.$(K8S_MINOR) cgo=$(CGO_ENABLED)" ]; then \
		echo "helm: up to date ($(HELM_VERSION))"; \
	else \
		echo "helm: building $(HELM_VERSION) into bin/"; \
		GOBIN=$(BIN) GOFLAGS=-buildvcs=false $(GO) install -trimpath -ldflags "$(HELM_LDFLAGS)" helm.sh/helm/v3/cmd/helm@$(HELM_VERSION) && \
		echo "$(HELM_VERSION) k8s=1.$(K8S_MINOR) cgo=$(CGO_ENABLED)" > $(BIN)/.helm-version; \
	fi

# The helm v4 CLI most users run (issue 21): the newest v4.x the Go module proxy had when
# this was pinned (`go list -m -versions helm.sh/helm/v4`). romanactl keeps the v3 SDK;
# bin/helm4 is only the other side of the helm-interop tests. `go install pkg@version`
# builds it outside this module, so its dependencies never touch go.mod.
HELM4_VERSION := v4.3.2
HELM4_LDFLAGS := -s -w -X helm.sh/helm/v4/internal/version.version=$(HELM4_VERSION) -X helm.sh/helm/v4/internal/version.metadata=

helm4: ## build bin/helm4 from helm.sh/helm/v4 $(HELM4_VERSION) (skipped when current)
	@if [ -x $(BIN)/helm4 ] && [ "$$(cat $(BIN)/.helm4-version 2>/dev/null)" = "$(HELM4_VERSION) cgo=$(CGO_ENABLED)" ]; then \
		echo "helm4: up to date ($(HELM4_VERSION))"; \
	else \
		echo "helm4: building $(HELM4_VERSION) into bin/helm4"; \
		tmp=$$(mktemp -d) && \
		GOBIN=$$tmp GOFLAGS=-buildvcs=false $(GO) install -trimpath -ldflags "$(HELM4_LDFLAGS)" helm.sh/helm/v4/cmd/helm@$(HELM4_VERSION) && \
		mv $$tmp/helm $(BIN)/helm4.tmp && mv $(BIN)/helm4.tmp $(BIN)/helm4 && rmdir $$tmp && \
		echo "$(HELM4_VERSION) cgo=$(CGO_ENABLED)" > $(BIN)/.helm4-version; \
	fi

CHART_VERSION := $(shell awk '/^version:/ {print $$2}' chart/Chart.yaml)

chart-package: helm ## write dist/romana-<version>.tgz with helm package (the layout helm install takes)
	$(BIN)/helm package chart -d dist

chart-push: chart-package ## push dist/romana-<version>.tgz to REGISTRY=host:port/org as an OCI artifact (PLAIN_HTTP=1 for a plain-HTTP registry; loopback is detected)
	@test -n "$(REGISTRY)" || { echo "usage: make chart-push REGISTRY=host:port/org [PLAIN_HTTP=1]"; exit 2; }
	$(GO) run ./hack/chartpush --registry "$(REGISTRY)" $(if $(PLAIN_HTTP),--plain-http) dist/romana-$(CHART_VERSION).tgz

# romanactl's own CNI plugin (cmd/romana-cni) and its image, romanactl-cni:<chart version>,
# built with go-containerregistry (no Docker daemon): the static binary on an empty base
# for linux/amd64 and linux/arm64 in one OCI index, written to the OCI layout CNI_LAYOUT.
CNI_LAYOUT  := dist/romanactl-cni
CNI_ARCHES  := amd64 arm64
CNI_SRC     := $(shell find cmd/romana-cni internal/cni -name '*.go' -not -name '*_test.go') go.mod go.sum
IMAGE_SRC   := $(shell find hack/cniimage internal/cniimage -name '*.go' -not -name '*_test.go')

romana-cni: ## build bin/romana-cni, the static CNI plugin (what the image holds; the test cluster runs it as the image would)
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/romana-cni ./cmd/romana-cni

# The version stamp changes only when VERSION does, so that the image is rebuilt then too.
dist/.romana-cni-version: FORCE
	@mkdir -p dist; echo '$(VERSION)' | cmp -s - $@ || echo '$(VERSION)' > $@

dist/romana-cni-linux-%: $(CNI_SRC) dist/.romana-cni-version
	GOOS=linux GOARCH=$* $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $@ ./cmd/romana-cni

$(CNI_LAYOUT)/index.json: $(foreach a,$(CNI_ARCHES),dist/romana-cni-linux-$(a)) $(IMAGE_SRC) chart/Chart.yaml
	$(GO) run ./hack/cniimage build --layout $(CNI_LAYOUT) --tag $(CHART_VERSION) --version $(VERSION) \
		--revision "$$(git rev-parse HEAD 2>/dev/null)" $(foreach a,$(CNI_ARCHES),$(a)=dist/romana-cni-linux-$(a))

image: $(CNI_LAYOUT)/index.json ## build the romanactl-cni image (the plugin for linux/amd64 and linux/arm64, one OCI index) into the OCI layout dist/romanactl-cni/, without a Docker daemon; skipped when current

image-push: image ## push dist/romanactl-cni/ to REGISTRY=host:port/org as REGISTRY/romanactl-cni:<chart version> (PLAIN_HTTP=1 for a plain-HTTP registry; loopback is detected)
	@test -n "$(REGISTRY)" || { echo "usage: make image-push REGISTRY=host:port/org [PLAIN_HTTP=1]"; exit 2; }
	$(GO) run ./hack/cniimage push --layout $(CNI_LAYOUT) --registry "$(REGISTRY)" --tag $(CHART_VERSION) $(if $(PLAIN_HTTP),--plain-http)

# The Kubernetes minor the control plane runs: one module per minor under
# test/controlplane/, the newest by default (what CI runs).
K8S ?= $(shell ls test/controlplane | sort -V | tail -1)
export ROMANACTL_K8S := $(K8S)

controlplane: ## build kube-apiserver, controller-manager, scheduler of K8S into bin/K8S/, and etcd, kubectl, kwok into bin/ (skipped when current)
	hack/build-controlplane.sh $(K8S)

cluster-bin:
	$(GO) build -o $(BIN)/cluster ./hack/cluster

mirror-demo: build ## images list + mirror between two local plain-HTTP registries (no cluster)
	$(GO) build -o $(BIN)/registry ./hack/registry
	hack/mirror-demo.sh

cluster-up: controlplane cluster-bin $(REAL_DEPS) ## start the local control plane (Kubernetes K8S) in the background, with REAL_NODES real workers (RUNTIME=docker|containerd); writes .cluster/kubeconfig
	$(BIN)/cluster up --dir .cluster --bin $(BIN) --workers 3 --k8s $(K8S) --real-nodes $(REAL_NODES) --runtime $(RUNTIME)
	@echo "export KUBECONFIG=$(CURDIR)/.cluster/kubeconfig"

cluster-down: cluster-bin ## stop the local control plane and its real nodes (every process and network namespace it started) and remove .cluster/
	$(BIN)/cluster down --dir .cluster

romana-bin: ## build Romana v0.9.3.5's own programs from ROMANA_SRC (default ../shared/romana-v0.9.3.5) into bin/romana-v0.9.3.5/ (skipped when current)
	hack/build-romana.sh

host-tools: ## install from Debian what the tests run for real when missing (ip, iptables, unshare, curl, jq; for the real-program tests MariaDB, supervisord, the MySQL client, nsenter, ss, ping)
	hack/host-tools.sh
	hack/host-tools.sh real

test: build helm helm4 controlplane host-tools romana-bin romana-cni ## run every test, the real-cluster ones included (what CI runs)
	ROMANACTL_HELM=$(BIN)/helm ROMANACTL_HELM4=$(BIN)/helm4 $(GO) test -count=1 -timeout 50m ./...

# SKIP: tests to leave out, a go test -skip pattern. CI's second Kubernetes version
# leaves out the real-program tests (TestClusterReal*): they prove Romana's programs and
# romanactl's plugin, which do not change with the API server's version, and take a
# quarter of an hour (README: CI).
test-cluster: build helm helm4 controlplane romana-cni ## the real-cluster tests alone (TestCluster*), on Kubernetes K8S (e.g. make test-cluster K8S=1.25; SKIP='TestClusterReal' leaves those out)
	ROMANACTL_HELM=$(BIN)/helm ROMANACTL_HELM4=$(BIN)/helm4 $(GO) test -count=1 -timeout 50m -run TestCluster $(if $(SKIP),-skip '$(SKIP)') ./cmd/romanactl ./internal/testcluster ./hack/cluster

test-matrix: build helm helm4 ## the real-cluster suite on every Kubernetes minor under test/controlplane (MINORS="1.25 1.37" for some); writes docs/compat.md
	hack/test-matrix.sh

chaos: build helm controlplane ## the fault tests alone; writes the Faults table of docs/benchmarks.md
	hack/chaos.sh

test-unit: ## run the tests that need neither bin/helm nor a cluster (go test -short)
	$(GO) test -count=1 -short ./...

golden: build helm ## rewrite the golden files from the current chart (review the diff!)
	ROMANACTL_HELM=$(BIN)/helm $(GO) test -count=1 ./cmd/romanactl/ -run 'Golden' -update

docs: ## write docs/reference/ (a Markdown page per command) and docs/man/ (man pages) from the command tree; a test fails when they are out of date
	$(GO) test -count=1 ./cmd/romanactl/ -run '^TestReferenceDocs$$' -update

fuzz: ## fuzz the CIDR/plan validator for 60s
	$(GO) test ./internal/values/ -run '^$$' -fuzz FuzzValidateAddressPlan -fuzztime 60s

bench: build helm controlplane cluster-bin ## benchmark romanactl against helm; writes docs/benchmarks.md
	$(GO) build -o $(BIN)/benchcmp ./hack/benchcmp
	hack/bench.sh

bench-scale: build controlplane ## romanactl at 10, 100 and 1,000 simulated nodes (SIZES=10,100 for fewer); writes the "At scale" section of docs/benchmarks.md
	hack/bench-scale.sh

bench-cni: build controlplane romana-bin romana-cni ## the CNI plugin's ADD and DEL time over 100 pods on the real-program tier, romanactl's plugin next to v0.9.3.5's (as root; two real clusters, under 15 min); writes the "CNI plugin: ADD and DEL" section of docs/benchmarks.md
	hack/bench-cni.sh

lint: helm ## helm lint the chart with every environment
	for f in chart/env/*.yaml; do $(BIN)/helm lint ./chart -f $$f || exit 1; done

fmt:
	gofmt -l -w $$(git ls-files '*.go')

clean: cluster-down
	rm -rf $(BIN) dist
