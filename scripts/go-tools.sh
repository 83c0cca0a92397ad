#!/usr/bin/env bash
# Build the real Go programs the tests run (scripts/go-tools.txt), once per version, and link
# them into the venv's bin/. Builds are cached under $XDG_CACHE_HOME/container-gate/tools, and
# Go's own module and build caches make a rebuild after a version bump cheap.
#
# Without Go this prints why and exits 0 (the tests that need the tools then skip), unless
# CONTAINER_GATE_REQUIRE_GO=1, as in CI, where a missing toolchain is an error.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/container-gate/tools

if ! command -v go >/dev/null 2>&1; then
  if [ "${CONTAINER_GATE_REQUIRE_GO:-0}" != "0" ]; then
    echo "setup: no Go toolchain on PATH, and CONTAINER_GATE_REQUIRE_GO is set" >&2
    exit 1
  fi
  echo "setup: no Go toolchain: Grype, cosign, crane and actionlint tests will skip" >&2
  exit 0
fi

while read -r name package version; do
  case "$name" in ''|'#'*) continue ;; esac
  dir="$CACHE/$name-$version"
  # Grype's release build stamps its version (goreleaser: -X main.version); without it
  # `grype version` and every JSON report say "[not provided]".
  ldflags=""
  [ "$name" = grype ] && ldflags="-X main.version=${version#v}"
  if [ ! -x "$dir/$name" ] || [ "$(cat "$dir/.ldflags" 2>/dev/null)" != "$ldflags" ]; then
    echo "setup: building $name $version from $package (once; cached)"
    mkdir -p "$dir"
    GOBIN="$dir" GOFLAGS=-trimpath go install -ldflags="$ldflags" "$package@$version"
    printf '%s' "$ldflags" >"$dir/.ldflags"
  fi
  ln -sf "$dir/$name" "$VENV/bin/$name"
done < scripts/go-tools.txt
