#!/bin/sh
# examples.sh — every program in examples/ runs on every backend and
# prints what its header comment says.
#
#   tests/examples.sh
#
# Prints "N passed, N failed".

set -u

top=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
passed=0
failed=0

export GUILE_AUTO_COMPILE=0

# check NAME PATTERN COMMAND...: COMMAND succeeds and its output has a line
# matching PATTERN (grep -E).
check() {
  name=$1 pattern=$2
  shift 2
  if timeout 120 "$@" >"$tmp/out" 2>&1 </dev/null \
       && grep -Eq -- "$pattern" "$tmp/out"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL $name"
    sed 's/^/  | /' "$tmp/out" | head -20
  fi
}

f64='^#f64\(([0-9.e-]+ ){9}[0-9.e-]+\)$'

for backend in serial multiprocessing:3 mpi; do
  case $backend in
    serial) lengths='^\(1000\)$' ;;
    *) lengths='^\(334 333 333\)$' ;;
  esac
  if [ "$backend" = mpi ]; then
    run="$top/pre-inst-env parallelizer run -n 3 --backend mpi"
  else
    run="env PARALLELIZER=$backend $top/pre-inst-env guile"
  fi
  # shellcheck disable=SC2086
  check "run-job on $backend" "$lengths" $run "$top/examples/run-job.scm"
  # shellcheck disable=SC2086
  check "map on $backend" '^\(1 2 3 4 5 6 7 8 9 10\)$' \
    $run "$top/examples/map.scm"
  # shellcheck disable=SC2086
  check "sample-program on $backend" "$f64" \
    $run "$top/examples/sample-program.scm"
  # Every process prints, but only the main one says which parallelizer
  # it runs with, once.
  if [ "$(grep -c '^Running with' "$tmp/out")" != 1 ]; then
    failed=$((failed + 1))
    echo "FAIL sample-program on $backend: 'Running with' not exactly once"
  else
    passed=$((passed + 1))
  fi
  # The workers' changes reach the main process; serial has none.
  case $backend in
    serial) changed='^a\[1,0,0\] = 0\.[0-9]+$' ;;
    *) changed='^a\[1,0,0\] = 5\.0$' ;;
  esac
  # shellcheck disable=SC2086
  check "shared-dict on $backend" "$changed" \
    $run "$top/examples/shared-dict.scm"
  if grep -q '^unshared: a hash table; a is an f64 array of shape (10 5 5)$' \
       "$tmp/out"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL shared-dict on $backend: unshare"
  fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
