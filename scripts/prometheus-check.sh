#!/usr/bin/env bash
# Checks deploy/ (Grafana dashboard, alert rules, Prometheus config) against a real Prometheus and
# a busgate under traffic; see scripts/prometheus-check.ts for what exactly is checked.
#
#   bash scripts/prometheus-check.sh         one line per check (ok / EMPTY / ERROR / FAIL)
#
# Installs Debian's prometheus package when it is missing and this runs as root with apt-get;
# builds with `npm run build:all` unless SKIP_BUILD=1. Exit 0 when every check is ok.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Debian's prometheus package"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  else
    echo "prometheus and promtool are needed: sudo apt-get install -y --no-install-recommends prometheus" >&2
    exit 2
  fi
fi

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  npm run --silent build:all
fi
exec node dist/scripts/prometheus-check.js
