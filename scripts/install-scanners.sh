#!/usr/bin/env bash
# Install pinned release binaries (trivy, grype, actionlint), verified against SHA-256 sums
# recorded in this repository (scripts/scanner-checksums.txt) BEFORE anything is extracted.
#
#   install-scanners.sh TOOL[=VERSION]...
#
# Environment:
#   INSTALL_DIR                   where binaries go (default: $RUNNER_TEMP/container-gate/bin)
#   CONTAINER_GATE_DOWNLOAD_BASE  fetch "$BASE/ASSET" instead of the GitHub release URL: a
#                                 mirror, or a local directory / file:// URL (offline tests).
#                                 The recorded checksum is enforced all the same.
#
# Never `curl | sh`, never a checksum file fetched next to the binary: a missing entry, a
# download error or a mismatch aborts with a non-zero exit and leaves nothing installed.
set -euo pipefail

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
sums_file="$here/scanner-checksums.txt"
install_dir=${INSTALL_DIR:-${RUNNER_TEMP:-/tmp}/container-gate/bin}
base=${CONTAINER_GATE_DOWNLOAD_BASE:-}
tmp_root=""

die() {
  printf 'install-scanners: %s\n' "$*" >&2
  exit 1
}

platform() {
  local os arch
  os=$(uname -s)
  arch=$(uname -m)
  [ "$os" = Linux ] || die "unsupported OS $os (recorded checksums cover Linux only)"
  case "$arch" in
    x86_64 | amd64) echo linux-amd64 ;;
    aarch64 | arm64) echo linux-arm64 ;;
    *) die "unsupported architecture $arch" ;;
  esac
}

default_version() {
  # The first version recorded for the tool is its pinned default.
  awk -v tool="$1" '$1 == tool { print $2; exit }' "$sums_file"
}

release_url() {
  local tool=$1 version=$2 asset=$3
  case "$tool" in
    trivy) echo "https://github.com/aquasecurity/trivy/releases/download/v$version/$asset" ;;
    grype) echo "https://github.com/anchore/grype/releases/download/v$version/$asset" ;;
    actionlint) echo "https://github.com/rhysd/actionlint/releases/download/v$version/$asset" ;;
    *) die "unknown tool $tool" ;;
  esac
}

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum -- "$1" | awk '{ print $1 }'
  else
    shasum -a 256 -- "$1" | awk '{ print $1 }'
  fi
}

fetch() {
  local url=$1 asset=$2 dest=$3
  if [ -n "$base" ]; then
    local source=${base#file://}
    if [ "$source" != "$base" ] || [ "${base:0:1}" = / ]; then
      cp -- "$source/$asset" "$dest" || die "cannot read $source/$asset"
      return
    fi
    url="${base%/}/$asset"
  fi
  curl --fail --silent --show-error --location --proto '=https' --tlsv1.2 \
    --retry 3 --retry-delay 5 --connect-timeout 20 --max-time 600 \
    --output "$dest" -- "$url" || die "download failed: $url"
}

install_one() {
  local tool=$1 version=$2 plat=$3
  local line asset expected actual
  line=$(awk -v t="$tool" -v v="$version" -v p="$plat" \
    '$1 == t && $2 == v && $3 == p { print $4 " " $5; exit }' "$sums_file")
  [ -n "$line" ] || die "no recorded checksum for $tool $version on $plat in $sums_file; \
use a recorded version or record the verified sum first"
  asset=${line% *}
  expected=${line#* }
  [[ "$expected" =~ ^[0-9a-f]{64}$ ]] || die "malformed checksum for $tool $version: $expected"

  local work="$tmp_root/$tool"
  mkdir -p -- "$work"
  fetch "$(release_url "$tool" "$version" "$asset")" "$asset" "$work/$asset"
  actual=$(sha256_of "$work/$asset")
  if [ "$actual" != "$expected" ]; then
    rm -f -- "$work/$asset"
    die "checksum mismatch for $asset: expected $expected, got $actual; refusing to install"
  fi
  # Extract only the one regular file named like the tool: no path traversal, no extras.
  tar -xzf "$work/$asset" -C "$work" --no-same-owner -- "$tool" ||
    die "$asset has no $tool binary at its root"
  if [ ! -f "$work/$tool" ] || [ -L "$work/$tool" ]; then
    die "$asset: $tool is not a regular file"
  fi
  mkdir -p -- "$install_dir"
  install -m 0755 -- "$work/$tool" "$install_dir/$tool"
  printf 'install-scanners: %s %s (%s) verified sha256 %s -> %s\n' \
    "$tool" "$version" "$plat" "$expected" "$install_dir/$tool"
}

main() {
  [ "$#" -gt 0 ] || die "usage: install-scanners.sh TOOL[=VERSION]..."
  [ -r "$sums_file" ] || die "cannot read $sums_file"
  local plat spec tool version
  plat=$(platform)
  tmp_root=$(mktemp -d)
  trap 'rm -rf -- "$tmp_root"' EXIT
  for spec in "$@"; do
    tool=${spec%%=*}
    version=${spec#*=}
    if [ "$version" = "$spec" ] || [ -z "$version" ]; then
      version=$(default_version "$tool")
    fi
    [ -n "$version" ] || die "no version recorded for $tool"
    [[ "$version" =~ ^[0-9A-Za-z._-]+$ ]] || die "invalid version for $tool: $version"
    install_one "$tool" "$version" "$plat"
  done
}

main "$@"
