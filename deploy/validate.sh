#!/usr/bin/env bash
# The deploy/ validators, one subcommand each, shared by `make deploy-check` (on the real files) and
# deploy/tests/test_validators.sh (on deliberately broken copies), so both run the same commands.
#
#   validate.sh dockerfile DOCKERFILE          hadolint (config: deploy/.hadolint.yaml)
#   validate.sh kubernetes FILE...             kubernetes-validate --strict, for each of $K8S_VERSIONS
#   validate.sh kustomize DIR                  render with kubectl/kustomize if present, then validate
#   validate.sh systemd UNIT                   systemd-analyze verify + security exposure threshold
#   validate.sh consistency REPO_ROOT          deploy/check_consistency.py
#
# Exit status: 0 = valid, non-zero = invalid (or a tool is missing).
# Environment: DEPLOY_VENV (default deploy/.venv next to this script), K8S_VERSIONS (default
# "1.29.0 1.37.0": the oldest and newest Kubernetes the manifests are meant for),
# SYSTEMD_EXPOSURE_MAX (default 20 = an exposure of 2.0 in `systemd-analyze security`),
# K8S_UNSCHEMA_KINDS (default "ServiceMonitor": CRD kinds allowed to have no schema).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${DEPLOY_VENV:-$here/.venv}"
k8s_versions="${K8S_VERSIONS:-1.29.0 1.37.0}"
exposure_max="${SYSTEMD_EXPOSURE_MAX:-20}"

unschema_kinds="${K8S_UNSCHEMA_KINDS:-ServiceMonitor}"

# kubernetes-validate only *warns* when it has no schema for a kind/apiVersion (a typo in apiVersion,
# or an API removed in that Kubernetes version, e.g. policy/v1beta1): fail on that, except for the
# CRD kinds in $unschema_kinds, which it never knows.
k8s_validate() {  # k8s_validate VERSION FILE...
  local v="$1" log rc=0; shift
  log="$(mktemp)"
  "$venv/bin/kubernetes-validate" --strict --quiet -k "$v" "$@" >"$log" 2>&1 || rc=$?
  local allowed unknown
  allowed="for kind ($(echo "$unschema_kinds" | tr ' ' '|')) with"
  # Print everything but the expected no-schema warnings for the allowed CRD kinds.
  grep -vE "Couldn't find schema $allowed" "$log" || true
  unknown="$(grep "Couldn't find schema" "$log" | grep -vE "$allowed" || true)"
  rm -f "$log"
  if [ -n "$unknown" ]; then
    echo "kubernetes-validate -k $v: unknown kind/apiVersion (not a CRD allowed in K8S_UNSCHEMA_KINDS)" >&2
    return 1
  fi
  return "$rc"
}

die() { echo "validate.sh: $*" >&2; exit 2; }
need_venv_tool() { [ -x "$venv/bin/$1" ] || die "$venv/bin/$1 missing: run 'make deploy-deps'"; }

cmd="${1:-}"; shift || true
case "$cmd" in
  dockerfile)
    [ $# -eq 1 ] || die "usage: validate.sh dockerfile DOCKERFILE"
    need_venv_tool hadolint
    "$venv/bin/hadolint" --no-color --config "$here/.hadolint.yaml" "$1"
    echo "hadolint: $1 ok"
    ;;

  kubernetes)
    [ $# -ge 1 ] || die "usage: validate.sh kubernetes FILE..."
    need_venv_tool kubernetes-validate
    for v in $k8s_versions; do
      k8s_validate "$v" "$@"
      echo "kubernetes-validate --strict -k $v: $# file(s) ok"
    done
    ;;

  kustomize)
    [ $# -eq 1 ] || die "usage: validate.sh kustomize DIR"
    need_venv_tool kubernetes-validate
    out="$(mktemp)"; trap 'rm -f "$out"' EXIT
    if command -v kustomize >/dev/null 2>&1; then
      kustomize build "$1" >"$out"
    elif command -v kubectl >/dev/null 2>&1; then
      kubectl kustomize "$1" >"$out"
    else
      echo "kustomize: skipped $1 (neither kustomize nor kubectl installed; each file is validated on its own)"
      exit 0
    fi
    # CRD kinds (ServiceMonitor) have no schema in kubernetes-validate; k8s_validate allows those only.
    for v in $k8s_versions; do
      k8s_validate "$v" "$out"
    done
    echo "kustomize: $1 renders ($(grep -c '^kind:' "$out") objects) and validates"
    ;;

  systemd)
    [ $# -eq 1 ] || die "usage: validate.sh systemd UNIT"
    command -v systemd-analyze >/dev/null 2>&1 || die "systemd-analyze missing: run 'make deploy-deps'"
    # `systemd-analyze verify` fails when ExecStart's binary does not exist, and the mirrorgan binary is
    # not installed on a CI machine. Verify a copy whose ExecStart binary is rewritten to /bin/true;
    # every other line (and the arguments) stay as they are.
    tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
    unit="$tmp/$(basename "$1")"
    sed -E 's#^(ExecStart(Pre|Post)?=[-@:+!]*)[^ ]+#\1/bin/true#' "$1" >"$unit"
    # verify prints problems it only warns about ("Unknown key ..., ignoring") and still exits 0, so
    # any output at all counts as a failure.
    log="$tmp/verify.log"
    rc=0; systemd-analyze verify "$unit" >"$log" 2>&1 || rc=$?
    if [ "$rc" -ne 0 ] || [ -s "$log" ]; then
      sed "s#$tmp/#$(dirname "$1")/#g" "$log" >&2
      echo "systemd-analyze verify: $1 FAILED (exit $rc)" >&2
      exit 1
    fi
    echo "systemd-analyze verify: $1 ok"
    rc=0; systemd-analyze security --offline=true --threshold="$exposure_max" "$unit" >"$log" 2>&1 || rc=$?
    level="$(grep -o 'Overall exposure level.*' "$log" | sed "s#$tmp/##" || true)"
    if [ "$rc" -ne 0 ]; then
      grep -E '^✗' "$log" >&2 || true
      echo "systemd-analyze security: $1 FAILED: ${level:-no result} (allowed: <= $exposure_max/100)" >&2
      exit 1
    fi
    echo "systemd-analyze security: $level"
    ;;

  consistency)
    [ $# -eq 1 ] || die "usage: validate.sh consistency REPO_ROOT"
    py="$(command -v python3)"; [ -x /usr/bin/python3 ] && py=/usr/bin/python3
    "$py" "$here/check_consistency.py" --root "$1"
    ;;

  *)
    die "usage: validate.sh {dockerfile|kubernetes|kustomize|systemd|consistency} ARGS"
    ;;
esac
