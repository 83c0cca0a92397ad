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
#   CONTAINER_GATE_ASSET_CACHE    keep downloaded archives here (actions/cache saves it); a
#                                 cached archive is re-verified on every run before use.
#   INSTALL_SHA256_<TOOL>         (TRIVY, GRYPE) the SHA-256 of the release archive, supplied
#                                 by the user for a version this file does not record: a bare
#                                 hex sum, or PLATFORM=SHA256 lines (linux-amd64, linux-arm64)
#                                 for a matrix of runners. It is enforced exactly like a
#                                 recorded one; it may not contradict a recorded one.
#
# Never `curl | sh`, never a checksum file fetched next to the binary: a missing entry, a
# download error or a mismatch aborts with a non-zero exit and leaves nothing installed.
set -euo pipefail

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
sums_file="$here/scanner-checksums.txt"
install_dir=${INSTALL_DIR:-${RUNNER_TEMP:-/tmp}/container-gate/bin}
base=${CONTAINER_GATE_DOWNLOAD_BASE:-}
cache_dir=${CONTAINER_GATE_ASSET_CACHE:-}
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

asset_name() {
  # The release asset's name, as each project publishes it (for user-supplied sums).
  local tool=$1 version=$2 plat=$3
  case "$tool/$plat" in
    trivy/linux-amd64) echo "trivy_${version}_Linux-64bit.tar.gz" ;;
    trivy/linux-arm64) echo "trivy_${version}_Linux-ARM64.tar.gz" ;;
    grype/linux-amd64) echo "grype_${version}_linux_amd64.tar.gz" ;;
    grype/linux-arm64) echo "grype_${version}_linux_arm64.tar.gz" ;;
    *) die "no asset name known for $tool on $plat" ;;
  esac
}

supplied_sum() {
  # The user's sum for this platform from INSTALL_SHA256_<TOOL>, or nothing.
  local tool=$1 plat=$2 var value line key sum
  var="INSTALL_SHA256_$(printf '%s' "$tool" | tr '[:lower:]' '[:upper:]')"
  value=${!var:-}
  value=$(printf '%s' "$value" | tr -d ' \t\r')
  [ -n "$value" ] || return 0
  if [[ "$value" =~ ^[0-9A-Fa-f]{64}$ ]]; then
    printf '%s' "${value,,}"
    return 0
  fi
  while IFS= read -r line; do
    [ -n "$line" ] || continue
    key=${line%%[=:]*}
    sum=${line#*[=:]}
    [[ "$sum" =~ ^[0-9A-Fa-f]{64}$ ]] || die "$var: expected SHA256 or PLATFORM=SHA256 lines, got '$line'"
    if [ "$key" = "$plat" ]; then
      printf '%s' "${sum,,}"
      return 0
    fi
  done <<<"$value"
  die "$var gives no sum for $plat"
}

install_one() {
  local tool=$1 version=$2 plat=$3
  local line asset expected actual supplied
  line=$(awk -v t="$tool" -v v="$version" -v p="$plat" \
    '$1 == t && $2 == v && $3 == p { print $4 " " $5; exit }' "$sums_file")
  supplied=$(supplied_sum "$tool" "$plat")
  if [ -n "$supplied" ]; then
    if [ -n "$line" ] && [ "${line#* }" != "$supplied" ]; then
      die "the supplied sha256 for $tool $version ($plat) contradicts the one recorded in \
$sums_file; refusing to install"
    fi
    line="$(asset_name "$tool" "$version" "$plat") $supplied"
  fi
  [ -n "$line" ] || die "no recorded checksum for $tool $version on $plat in $sums_file; \
use a recorded version, record the verified sum first, or supply it (${tool}-sha256 input)"
  asset=${line% *}
  expected=${line#* }
  [[ "$expected" =~ ^[0-9a-f]{64}$ ]] || die "malformed checksum for $tool $version: $expected"

  local work="$tmp_root/$tool"
  mkdir -p -- "$work"
  local cached=""
  if [ -n "$cache_dir" ] && [ -f "$cache_dir/$asset" ]; then
    if [ "$(sha256_of "$cache_dir/$asset")" = "$expected" ]; then
      cached=yes
      cp -- "$cache_dir/$asset" "$work/$asset"
    else
      rm -f -- "$cache_dir/$asset" # not what the sum says: never used, fetched again
    fi
  fi
  [ -n "$cached" ] || fetch "$(release_url "$tool" "$version" "$asset")" "$asset" "$work/$asset"
  actual=$(sha256_of "$work/$asset")
  if [ "$actual" != "$expected" ]; then
    rm -f -- "$work/$asset"
    die "checksum mismatch for $asset: expected $expected, got $actual; refusing to install"
  fi
  if [ -n "$cache_dir" ] && [ -z "$cached" ]; then
    mkdir -p -- "$cache_dir" && cp -- "$work/$asset" "$cache_dir/$asset"
  fi
  # Extract only the one regular file named like the tool: no path traversal, no extras.
  tar -xzf "$work/$asset" -C "$work" --no-same-owner -- "$tool" ||
    die "$asset has no $tool binary at its root"
  if [ ! -f "$work/$tool" ] || [ -L "$work/$tool" ]; then
    die "$asset: $tool is not a regular file"
  fi
  mkdir -p -- "$install_dir"
  install -m 0755 -- "$work/$tool" "$install_dir/$tool"
  printf 'install-scanners: %s %s (%s) verified sha256 %s%s -> %s\n' \
    "$tool" "$version" "$plat" "$expected" "${cached:+ (cached archive)}" "$install_dir/$tool"
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
