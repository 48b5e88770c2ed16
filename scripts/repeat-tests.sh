#!/usr/bin/env bash
# Runs the mocha tests whose titles match GREP, N times in a row, and prints a pass count: a test
# that fails one run in five is a failing test, and one green run proves little.
#
#   scripts/repeat-tests.sh N GREP          e.g. scripts/repeat-tests.sh 10 "faults: rabbitmq"
#
# Builds once first (REPEAT_NO_BUILD=1 skips it). REPEAT_SPEC="dist/test/faults/x.test.js ..." loads
# only those spec files (default: the same ones as `npm test`). REPEAT_LOCK=FILE takes that lock
# (flock) around each run, not around the loop: the fault suites start private brokers on fixed
# ports, and other runs waiting for the lock get their turn between two of ours. Each run's full output is kept in
# REPEAT_LOG_DIR (default: a new folder under /tmp); a run counts as passed only when mocha exits 0
# and at least one test passed (a run where everything was skipped is not a pass). Each line also
# shows the machine's load average, since timing problems often show only under load.
# Exits non-zero when any run failed.
set -euo pipefail

if [ $# -ne 2 ] || ! [[ "$1" =~ ^[0-9]+$ ]] || [ "$1" -lt 1 ]; then
  echo "usage: $0 N GREP   (runs the mocha tests matching GREP N times)" >&2
  exit 2
fi
runs=$1
grep=$2
cd "$(dirname "$0")/.."

if [ "${REPEAT_NO_BUILD:-0}" != 1 ]; then npm run build:all >/dev/null; fi
logs=${REPEAT_LOG_DIR:-$(mktemp -d /tmp/busgate-repeat-XXXXXX)}
mkdir -p "$logs"

count() { # count KIND LOG: mocha's "N passing|failing|pending" summary number, 0 when absent
  { grep -Eo "^ +[0-9]+ $1" "$2" || true; } | tail -1 | grep -Eo '[0-9]+' || echo 0
}

passed=0
for i in $(seq 1 "$runs"); do
  log="$logs/run-$i.log"
  started=$(date +%s)
  status=0
  # .mocharc.json names no spec files: give the same ones as `npm test`, or REPEAT_SPEC's.
  if [ -n "${REPEAT_SPEC:-}" ]; then
    read -r -a specs <<<"$REPEAT_SPEC"
  else
    specs=("dist/test/**/*.test.js" --ignore "dist/test/faults/*-cluster-faults.test.js")
  fi
  lock=()
  if [ -n "${REPEAT_LOCK:-}" ]; then lock=(flock "$REPEAT_LOCK"); fi
  "${lock[@]}" npx mocha "${specs[@]}" --grep "$grep" >"$log" 2>&1 || status=$?
  ok=$(count passing "$log")
  failing=$(count failing "$log")
  pending=$(count pending "$log")
  if [ "$status" -eq 0 ] && [ "$ok" -gt 0 ]; then
    passed=$((passed + 1))
    verdict=pass
  else
    verdict=FAIL
  fi
  echo "run $i/$runs: $verdict ($ok passing, $failing failing, $pending pending, $(($(date +%s) - started)) s${REPEAT_LOCK:+ with the wait for the lock}, load $(cut -d' ' -f1-3 /proc/loadavg))"
  if [ "$verdict" = FAIL ]; then
    # The numbered failure titles from mocha's report, for the summary line.
    { grep -E '^  [0-9]+\) ' "$log" || true; } | sed 's/^/    /' | head -10
  fi
done

echo "repeat-tests: $passed/$runs runs passed (mocha --grep \"$grep\"); logs in $logs"
[ "$passed" -eq "$runs" ]
