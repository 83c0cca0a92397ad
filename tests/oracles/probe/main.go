// Command probe imports every reference implementation the oracles call, so `go mod tidy`
// keeps their versions pinned in go.sum even before each oracle exists.
package main

import (
	_ "github.com/containerd/platforms"
	_ "github.com/moby/buildkit/frontend/dockerfile/instructions"
	_ "github.com/moby/buildkit/frontend/dockerfile/parser"
	_ "github.com/moby/buildkit/frontend/dockerfile/shell"
	_ "github.com/moby/sys/user"
)

func main() {}
