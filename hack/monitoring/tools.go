//go:build tools

// Package tools records the upstream main package that build.sh compiles
// (promtool, Prometheus's rule checker and rule unit-test runner), so that
// `go mod tidy` keeps its dependencies in go.mod/go.sum. The build tag keeps
// this file out of every real build.
package tools

import (
	_ "github.com/prometheus/prometheus/cmd/promtool"
)
