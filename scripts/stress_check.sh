#!/usr/bin/env bash
# The busy-machine check of the README (Development): `make test` RUNS times (default 3), as CI
# runs it (CI=true), while `stress-ng --cpu 2` keeps two CPUs busy beside it. Prints each run's
# result and wall time, and exits 0 only if every run passed. Logs go to a temporary folder.
set -uo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
command -v stress-ng >/dev/null || { echo "stress-ng is not installed; scripts/setup.sh installs it" >&2; exit 2; }
logs=$(mktemp -d "${TMPDIR:-/tmp}/coaffect-stress-XXXXXX")
stress-ng --cpu 2 --timeout 0 --quiet &   # --timeout 0: until it is stopped below
stress=$!
trap 'kill "$stress" 2>/dev/null; wait "$stress" 2>/dev/null' EXIT
TIMEFORMAT='%U %S'
passed=0
for i in $(seq 1 "$runs"); do
  start=$(date +%s)
  # bash's time: user + system CPU seconds of make test's processes (not stress-ng's)
  if { time CI=true make test > "$logs/run-$i.log" 2>&1; } 2> "$logs/cpu-$i"; then
    passed=$((passed + 1)); result=passed
  else
    result=FAILED
  fi
  echo "run $i: $result in $(( $(date +%s) - start )) s, $(awk '{printf "%d", $1 + $2}' "$logs/cpu-$i") CPU-s" \
    "in make test, load $(cut -d' ' -f1-3 /proc/loadavg) (log $logs/run-$i.log)"
done
echo "$passed of $runs runs of make test passed beside stress-ng --cpu 2"
[ "$passed" -eq "$runs" ]
