#!/usr/bin/env bash
# The Action's gate step: turn the inputs (passed ONLY through environment variables, never
# interpolated into this script) into `python -m gate check` arguments, and run it.
#
# Environment (set by action.yml from the inputs):
#   GATE_PYTHON              the Action's venv interpreter
#   GATE_BIN                 directory holding the verified trivy/grype binaries
#   GATE_OUT_DIR             where report/SARIF go when no file is named
#   GATE_IMAGES              image references, one per line (several allowed)
#   GATE_POLICY GATE_DOCKERFILES GATE_BUILD_ARGS GATE_GIT_SHA GATE_MODE GATE_SCANNERS
#   GATE_SARIF_FILE GATE_REPORT_FILE GATE_WORKING_DIRECTORY
#   GATE_PLATFORM GATE_SCANNER_TIMEOUT GATE_INSECURE_REGISTRIES GATE_PARALLEL GATE_DRY_RUN
#   GATE_FAIL_ON GATE_TRIVY_REPORT GATE_GRYPE_REPORT
#   RUNNER_ARCH              the runner's architecture: the platform when none is given
#   REGISTRY_USERNAME REGISTRY_PASSWORD   read by the CLI itself; masked here first
#
# Every value becomes exactly one argv entry (bash arrays, `--opt=value`, images after `--`),
# so no value can be re-split, glob-expanded, executed, or read as another option.
# Exit status is the CLI's: 0 pass, 1 policy violation, 2 error.
set -euo pipefail

readonly DEFAULT_POLICY=.github/container-gate.yml

escape() {
  # Workflow-command data escaping, as @actions/core's escapeData.
  local text=$1
  text=${text//%/%25}
  text=${text//$'\r'/%0D}
  text=${text//$'\n'/%0A}
  printf '%s' "$text"
}

die() {
  printf '::error title=container-gate::%s\n' "$(escape "$1")"
  if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
    # Markdown: the message quotes input values, so no HTML and no second line from them.
    local shown=${1//&/&amp;}
    shown=${shown//</&lt;}
    shown=${shown//>/&gt;}
    shown=${shown//$'\n'/ }
    shown=${shown//$'\r'/ }
    printf '## container-gate: ⛔ ERROR\n\n%s\n\n' "$shown" >>"$GITHUB_STEP_SUMMARY" || true
  fi
  exit 2
}

# bad NAME VALUE WHAT: an input that cannot be right, named as the workflow spells it.
bad() {
  die "input \`$1\`: $3, got '$2'"
}

trim() {
  local text=$1
  text=${text#"${text%%[![:space:]]*}"}
  text=${text%"${text##*[![:space:]]}"}
  printf '%s' "$text"
}

# lines VAR TEXT: the non-empty, trimmed lines of TEXT into array VAR.
lines() {
  local -n into=$1
  local line
  into=()
  while IFS= read -r line || [ -n "$line" ]; do
    line=$(trim "$line")
    [ -n "$line" ] && into+=("$line")
  done <<<"$2"
  return 0
}

mask() {
  # Mask the whole value and each line of it: the runner masks log lines one at a time.
  local value=$1 line
  [ -n "$value" ] || return 0
  printf '::add-mask::%s\n' "$(escape "$value")"
  [[ "$value" == *$'\n'* ]] || return 0
  while IFS= read -r line || [ -n "$line" ]; do
    [ -n "$line" ] && printf '::add-mask::%s\n' "$(escape "$line")"
  done <<<"$value"
  return 0
}

mask "${REGISTRY_PASSWORD:-}"
mask "${REGISTRY_USERNAME:-}"

: "${GATE_PYTHON:?GATE_PYTHON is not set}"
out_dir=${GATE_OUT_DIR:-${RUNNER_TEMP:-/tmp}/container-gate}
workdir=${GATE_WORKING_DIRECTORY:-.}
cd -- "$workdir" 2>/dev/null || die "input \`working-directory\`: $workdir does not exist"

declare -a images dockerfiles build_args args
lines images "${GATE_IMAGES:-}"
lines dockerfiles "${GATE_DOCKERFILES:-}"
lines build_args "${GATE_BUILD_ARGS:-}"
[ "${#images[@]}" -gt 0 ] || die "input \`image\`: empty; name at least one image"

args=(check)
policy=$(trim "${GATE_POLICY:-}")
if [ -n "$policy" ]; then
  # The default path is optional (the CLI then looks for container-gate.yml, else uses its
  # built-in policy and says so); a path the user named must exist.
  if [ "$policy" != "$DEFAULT_POLICY" ] || [ -e "$policy" ]; then
    args+=("--policy=$policy")
  fi
fi
for dockerfile in "${dockerfiles[@]}"; do args+=("--dockerfile=$dockerfile"); done
for build_arg in "${build_args[@]}"; do args+=("--build-arg=$build_arg"); done
git_sha=$(trim "${GATE_GIT_SHA:-}")
[ -z "$git_sha" ] || args+=("--git-sha=$git_sha")
mode=$(trim "${GATE_MODE:-}")
if [ -n "$mode" ]; then
  [[ "$mode" =~ ^(enforce|warn)$ ]] || bad mode "$mode" "must be enforce or warn"
  args+=("--mode=$mode")
fi
fail_on=$(trim "${GATE_FAIL_ON:-}")
if [ -n "$fail_on" ]; then
  [[ "${fail_on,,}" =~ ^(low|medium|high|critical)$ ]] ||
    bad fail-on "$fail_on" "must be low, medium, high or critical"
  args+=("--fail-on=$fail_on")
fi
platform=$(trim "${GATE_PLATFORM:-}")
if [ -z "$platform" ]; then
  # The runner's own architecture, as RUNNER_ARCH names it; other values keep the CLI's
  # default (linux/amd64).
  case "${RUNNER_ARCH:-}" in
    X64) platform=linux/amd64 ;;
    ARM64) platform=linux/arm64 ;;
    ARM) platform=linux/arm/v7 ;;
  esac
fi
if [ -n "$platform" ]; then
  [[ "$platform" =~ ^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+){0,2}$ ]] ||
    bad platform "$platform" "must be OS/ARCH[/VARIANT], e.g. linux/arm64"
  args+=("--platform=$platform")
fi
timeout=$(trim "${GATE_SCANNER_TIMEOUT:-}")
if [ -n "$timeout" ]; then
  [[ "$timeout" =~ ^[0-9]+(\.[0-9]+)?$ ]] && [[ "$timeout" =~ [1-9] ]] ||
    bad scanner-timeout "$timeout" "must be a positive number of seconds"
  args+=("--scanner-timeout=$timeout")
fi
parallel=$(trim "${GATE_PARALLEL:-}")
if [ -n "$parallel" ]; then
  [[ "$parallel" =~ ^[1-9][0-9]{0,2}$ ]] || bad parallel "$parallel" "must be a whole number from 1"
  args+=("--parallel=$parallel")
fi
dry_run=$(trim "${GATE_DRY_RUN:-}")
case "${dry_run,,}" in
  "" | false) ;;
  true) args+=(--dry-run) ;;
  *) bad dry-run "$dry_run" "must be true or false" ;;
esac
declare -a insecure
lines insecure "$(printf '%s' "${GATE_INSECURE_REGISTRIES:-}" | tr ',' '\n')"
for host in "${insecure[@]}"; do
  [[ "$host" =~ ^[A-Za-z0-9.-]+(:[0-9]+)?$|^\[[0-9A-Fa-f:.]+\](:[0-9]+)?$ ]] ||
    bad insecure-registry "$host" "must be HOST[:PORT], one per line"
  args+=("--insecure-registry=$host")
done
scanners=$(trim "${GATE_SCANNERS:-}")
if [ -n "$scanners" ]; then
  scanners=$(printf '%s' "$scanners" | tr -s ' \t\r\n,' ',')
  scanners=${scanners#,}
  scanners=${scanners%,}
  [[ "$scanners" =~ ^(trivy|grype)(,(trivy|grype))*$ ]] ||
    bad scanners "$scanners" "must name trivy and/or grype, comma-separated"
  args+=("--scanners=$scanners")
fi
for scanner in trivy grype; do
  name="GATE_${scanner^^}_REPORT"
  saved=$(trim "${!name:-}")
  [ -z "$saved" ] || args+=("--$scanner-report=$saved")
done
sarif=$(trim "${GATE_SARIF_FILE:-}")
report=$(trim "${GATE_REPORT_FILE:-}")
args+=("--sarif=${sarif:-$out_dir/results.sarif}")
args+=("--report-json=${report:-$out_dir/report.json}")
args+=(-- "${images[@]}")

[ -z "${GATE_BIN:-}" ] || export PATH="$GATE_BIN:$PATH"
export GITHUB_ACTIONS=true
# The CLI's usage errors name these inputs instead of the flags they become.
export CONTAINER_GATE_INPUTS="--policy=policy,--dockerfile=dockerfile,--build-arg=build-args,\
--git-sha=git-sha,--mode=mode,--scanners=scanners,--fail-on=fail-on,--platform=platform,\
--scanner-timeout=scanner-timeout,--insecure-registry=insecure-registry,--parallel=parallel,\
--dry-run=dry-run,--sarif=sarif-file,--report-json=report-file,--trivy-report=trivy-report,\
--grype-report=grype-report"

# The CLI writes its outputs to a private file first: if it stops before publishing a
# verdict (bad input, crash), the step still reports verdict=error, never an empty verdict.
step_output=$(mktemp)
trap 'rm -f -- "$step_output"' EXIT
set +e
GITHUB_OUTPUT=$step_output "$GATE_PYTHON" -m gate "${args[@]}"
status=$?
set -e
if ! head -n 1 -- "$step_output" | grep -q '^verdict<<'; then
  delimiter="ghadelimiter_$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
  printf 'verdict<<%s\nerror\n%s\n' "$delimiter" "$delimiter" >>"$step_output"
  [ "$status" -ne 0 ] || status=2
fi
if [ -n "${GITHUB_OUTPUT:-}" ]; then
  cat -- "$step_output" >>"$GITHUB_OUTPUT"
fi
exit "$status"
