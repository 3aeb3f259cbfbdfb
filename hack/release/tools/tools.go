//go:build tools

// Package tools records the upstream main packages that build.sh compiles for the release
// pipeline (cosign, crane, actionlint), so that `go mod tidy` keeps their dependencies in
// go.mod/go.sum. The build tag keeps this file out of every real build.
package tools

import (
	_ "github.com/google/go-containerregistry/cmd/crane"
	_ "github.com/rhysd/actionlint/cmd/actionlint"
	_ "github.com/sigstore/cosign/v2/cmd/cosign"
)
