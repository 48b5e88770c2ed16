#!/usr/bin/env bash
# `npm test` (and `npm run coverage`, under c8): two mocha runs side by side. Most of the suite
# waits on brokers, timers and child processes rather than on the CPU, so the two overlap well:
#   - the fault suites (test/faults, not the cluster ones), one file after another, since each
#     starts private brokers on fixed ports;
#   - everything else, on the shared brokers.
# The second run's output streams as it goes; the fault suites' is printed whole when they end.
# Then one summary in mocha's own words ("N passing", "N failing", "N pending"), which .ci/run
# reads. Exits non-zero when either run failed. Extra arguments go to both runs (e.g. --grep).
set -uo pipefail
cd "$(dirname "$0")/.."

faults_log=$(mktemp)
rest_log=$(mktemp)
trap 'rm -f "$faults_log" "$rest_log"' EXIT

npx mocha "dist/test/faults/*.test.js" --ignore "dist/test/faults/*-cluster-faults.test.js" "$@" >"$faults_log" 2>&1 &
faults=$!
npx mocha "dist/test/**/*.test.js" --ignore "dist/test/faults/**" "$@" 2>&1 | tee "$rest_log"
rest_status=${PIPESTATUS[0]}
wait "$faults"
faults_status=$?
echo
echo "---------------------------------------------------------------- fault suites (test/faults)"
cat "$faults_log"

count() { # count KIND LOG: mocha's last "N passing|failing|pending" number, 0 when absent
  { grep -Eo "^ +[0-9]+ $1" "$2" || true; } | tail -1 | grep -Eo '[0-9]+' || echo 0
}
echo
echo "---------------------------------------------------------------- both runs"
for kind in passing failing pending; do
  echo "  $(($(count "$kind" "$rest_log") + $(count "$kind" "$faults_log"))) $kind"
done
echo "  (status: fault suites $faults_status, the rest $rest_status)"
if [ "$rest_status" -ne 0 ]; then exit "$rest_status"; fi
exit "$faults_status"
