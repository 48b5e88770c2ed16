#!/usr/bin/env bash
# Installs the Debian packages that some test suites drive (idempotent, seconds when present):
#   chromium (+ fonts)  the web console's browser test (playwright-core drives it)
#   prometheus          promtool and a real Prometheus for the dashboard/alert check
#   wrk                 the benchmark's load generator
#   redis-server        the shared state store of the replica suites (scripts/brokers.sh starts it)
# Needs root and apt-get; without them it says what to install and exits 0, and the suites that
# need a missing tool skip locally (and fail under CI=true).
set -euo pipefail

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium fonts-dejavu-core)
command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)

if [ ${#need[@]} -eq 0 ]; then
  echo "test tools: chromium, prometheus, promtool, wrk and redis-server are installed"
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "test tools: missing ${need[*]}; install them with: apt-get install -y ${need[*]}"
  exit 0
fi
echo "test tools: installing ${need[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# The Debian prometheus package may start a system service on :9090; the tests use their own.
if command -v systemctl >/dev/null 2>&1; then systemctl stop prometheus >/dev/null 2>&1 || true; fi
pkill -x prometheus >/dev/null 2>&1 || true
echo "test tools: installed ${need[*]}"
