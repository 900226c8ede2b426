#!/usr/bin/env bash
# Negative tests for the deploy/ validators: each case copies deploy/ (and openapi.yaml) to a temp
# repository root, breaks one file in one way, and asserts that the validator meant to catch it exits
# non-zero. The unbroken copy must pass every validator first (so a failure is the breakage's doing).
# Run by `make deploy-check`; standalone: bash deploy/tests/test_validators.sh
set -uo pipefail

deploy="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
root="$(dirname "$deploy")"
validate="$deploy/validate.sh"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
passed=0 failed=0 n=0

fresh() {   # fresh copy of the deploy files under $work/$n; prints its root
  n=$((n + 1))
  local r="$work/$n"
  mkdir -p "$r/deploy"
  (cd "$deploy" && tar --exclude=./.venv --exclude=./tests -cf - .) | tar -xf - -C "$r/deploy"
  [ -f "$root/openapi.yaml" ] && cp "$root/openapi.yaml" "$r/"
  echo "$r"
}

report() {  # report NAME OK(0/1) LOG
  if [ "$2" -eq 0 ]; then
    passed=$((passed + 1)); echo "ok - $1"
  else
    failed=$((failed + 1)); echo "not ok - $1"; sed 's/^/    | /' "$3"
  fi
}

run_validator() {  # run_validator ROOT KIND -> runs the validator KIND on ROOT's copy
  local r="$1" kind="$2"
  case "$kind" in
    dockerfile)  "$validate" dockerfile "$r/deploy/Dockerfile" ;;
    kubernetes)  "$validate" kubernetes "$r"/deploy/kubernetes/base/{deployment,service,hpa,pdb}.yaml ;;
    systemd)     "$validate" systemd "$r/deploy/systemd/mirrorgan.service" ;;
    consistency) "$validate" consistency "$r" ;;
  esac
}

# expect_pass NAME KIND
expect_pass() {
  local r log; r="$(fresh)"; log="$r/log"
  if run_validator "$r" "$2" >"$log" 2>&1; then report "$1" 0 "$log"; else report "$1" 1 "$log"; fi
}

# expect_fail NAME KIND FILE(relative to deploy/) PATTERN... : PATTERN is a perl substitution applied
# to FILE; the case also fails if the substitution changed nothing (a stale test).
expect_fail() {
  local name="$1" kind="$2" file="$3" r log; shift 3
  r="$(fresh)"; log="$r/log"
  cp "$r/deploy/$file" "$r/orig"
  for expr in "$@"; do perl -0pi -e "$expr" "$r/deploy/$file"; done
  if cmp -s "$r/orig" "$r/deploy/$file"; then
    echo "substitution did not change $file: $*" >"$log"; report "$name" 1 "$log"; return
  fi
  if run_validator "$r" "$kind" >"$log" 2>&1; then
    echo "validator '$kind' accepted the broken $file" >>"$log"; report "$name" 1 "$log"
  else
    report "$name (rejected: $(grep -m1 -Ei 'DL[0-9]+|SC[0-9]+|error|fail|unknown|invalid|is not' "$log" | cut -c1-110))" 0 "$log"
  fi
}

echo "# positive controls: the unbroken files pass"
for k in dockerfile kubernetes systemd consistency; do expect_pass "pristine copy passes $k" "$k"; done

echo "# hadolint"
expect_fail "Dockerfile FROM debian:latest" dockerfile Dockerfile \
  's#FROM docker.io/library/debian:bookworm-slim AS runtime#FROM debian:latest AS runtime#'
expect_fail "Dockerfile runs as USER root" dockerfile Dockerfile 's#^USER 10001:10001#USER root#m'
expect_fail "Dockerfile apt-get install without --no-install-recommends" dockerfile Dockerfile \
  's#apt-get install -y --no-install-recommends \\\n      libmicrohttpd12#apt-get install -y \\\n      libmicrohttpd12#'

echo "# kubernetes-validate"
expect_fail "Deployment containerPort is a string" kubernetes kubernetes/base/deployment.yaml \
  's#containerPort: 8080#containerPort: "eighty"#'
expect_fail "Deployment unknown field (strict)" kubernetes kubernetes/base/deployment.yaml \
  's#readinessProbe:#readinessProbes:#'
expect_fail "HPA minReplicas is a string" kubernetes kubernetes/base/hpa.yaml \
  's#minReplicas: 2#minReplicas: two#'
expect_fail "PDB with a removed apiVersion (policy/v1beta1)" kubernetes kubernetes/base/pdb.yaml \
  's#apiVersion: policy/v1#apiVersion: policy/v1beta1#'

echo "# systemd-analyze"
expect_fail "unit with an unknown directive" systemd systemd/mirrorgan.service \
  's#^Restart=on-failure#Restart=on-failure\nRestartPolicy=always#m'
expect_fail "unit with an invalid value" systemd systemd/mirrorgan.service \
  's#^KillSignal=SIGTERM#KillSignal=SIGBOGUS#m'
expect_fail "unit with the sandbox removed" systemd systemd/mirrorgan.service \
  's#^(DynamicUser|ProtectSystem|ProtectHome|PrivateDevices|CapabilityBoundingSet|SystemCallFilter|RestrictAddressFamilies|NoNewPrivileges|PrivateUsers|ProtectKernel\w+|RestrictNamespaces)=.*\n##mg'

echo "# check_consistency.py"
expect_fail "readiness probe path /health" consistency kubernetes/base/deployment.yaml \
  's#path: /readyz#path: /health#'
# shellcheck disable=SC2016  # $1 is perl's capture group, not a shell variable
expect_fail "liveness probe on /readyz" consistency kubernetes/base/deployment.yaml \
  's#(livenessProbe:\n\s+httpGet:\n\s+path:) /healthz#$1 /readyz#'
expect_fail "containerPort 9090" consistency kubernetes/base/deployment.yaml \
  's#containerPort: 8080#containerPort: 9090#'
expect_fail "Service targetPort 8081" consistency kubernetes/base/service.yaml 's#targetPort: http#targetPort: 8081#'
expect_fail "grace period 130 s, shorter than preStop + drain (135 s)" consistency kubernetes/base/deployment.yaml \
  's#terminationGracePeriodSeconds: 150#terminationGracePeriodSeconds: 130#'
expect_fail "scrape annotation path /stats" consistency kubernetes/base/deployment.yaml \
  's#prometheus.io/path: /metrics#prometheus.io/path: /stats#'
expect_fail "Dockerfile HEALTHCHECK on /health" consistency Dockerfile 's#8080/healthz#8080/health#'
expect_fail "Dockerfile without USER" consistency Dockerfile 's#^USER 10001:10001\n##m'
expect_fail "Dockerfile EXPOSE 80" consistency Dockerfile 's#^EXPOSE 8080#EXPOSE 80#m'
expect_fail "ServiceMonitor on an unknown port name" consistency kubernetes/monitoring/servicemonitor.yaml \
  's#- port: http#- port: web#'
expect_fail "prometheus.yml scrapes :9100" consistency prometheus.yml 's#mirrorgan:8080#mirrorgan:9100#'
expect_fail "unit ExecStart --port 8000" consistency systemd/mirrorgan.service 's#--port 8080#--port 8000#'
expect_fail "unit TimeoutStopSec=90" consistency systemd/mirrorgan.service 's#^TimeoutStopSec=150#TimeoutStopSec=90#m'

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
