//go:build tools

// Package controlplane pins the Kubernetes v1.32.2 components that
// hack/build-controlplane.sh builds; the blank imports keep go mod tidy from
// dropping them.
package controlplane

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
)
