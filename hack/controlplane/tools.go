//go:build tools

// Package tools records the upstream main packages that build.sh compiles,
// so that `go mod tidy` keeps their dependencies in go.mod/go.sum.
// The build tag keeps this file out of every real build (a main package
// cannot be imported by code that is compiled).
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
