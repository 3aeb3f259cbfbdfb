//go:build tools

// Package tools records the upstream main package that build.sh compiles
// (the helm CLI), so that `go mod tidy` keeps its dependencies in
// go.mod/go.sum. The build tag keeps this file out of every real build.
package tools

import (
	_ "helm.sh/helm/v3/cmd/helm"
)
