//go:build tools

// Package tools records krew and its manifest validator, which ../build.sh compiles, so that
// `go mod tidy` keeps its dependencies in go.mod/go.sum. The build tag keeps this file out of
// every real build.
package tools

import (
	_ "sigs.k8s.io/krew/cmd/krew"
	_ "sigs.k8s.io/krew/cmd/validate-krew-manifest"
)
