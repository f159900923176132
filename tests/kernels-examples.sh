#!/bin/sh
# kernels-examples.sh — the programs of examples/kernels run on every
# backend and print what their header comments say; the program of
# examples/embed, built against this source tree by `make examples`, runs
# from a clean environment. (tests/install.sh builds and runs it against
# an installation.)
#
#   tests/kernels-examples.sh
#
# Prints "N passed, N failed".

set -u

top=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
passed=0
failed=0

export GUILE_AUTO_COMPILE=0
# Kernels compiled by the examples go to a cache of this script's own.
export XDG_CACHE_HOME="$tmp/cache"

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

for backend in serial multiprocessing:3 mpi; do
  case $backend in
    serial) nprocs=1 ;;
    *) nprocs=3 ;;
  esac
  if [ "$backend" = mpi ]; then
    run="$top/pre-inst-env parallelizer run -n 3 --backend mpi"
  else
    run="env PARALLELIZER=$backend $top/pre-inst-env guile"
  fi
  # shellcheck disable=SC2086
  check "gaussian on $backend" \
    '^integral of the density over \[-10, 10\]: 1\.000000$' \
    $run "$top/examples/kernels/gaussian.scm"
  # shellcheck disable=SC2086
  check "dot on $backend" \
    "^x \\. y = 500000500000\\.0 on $nprocs process(es)?\$" \
    $run "$top/examples/kernels/dot.scm"
  # shellcheck disable=SC2086
  check "pi on $backend" \
    "^pi is about 3\\.1[345][0-9]*, from $((nprocs * 2000000)) points\$" \
    $run "$top/examples/kernels/pi.scm"
  # shellcheck disable=SC2086
  check "softplus on $backend" \
    '^#f64\(0\.12693 0\.31326 0\.69315 1\.31326 2\.12693\)$' \
    $run "$top/examples/kernels/softplus.scm"
done

# The embedding program needs no variable: par_guile_init finds the
# extension in the program and the modules beside the library it links.
check "embed from a clean environment" \
  '^scale-by on 3 processes: #f64\(0\.0 2\.5 5\.0 7\.5 10\.0 12\.5 15\.0 17\.5\)$' \
  env -i PATH="$PATH" HOME="$tmp" "$top/build/examples/embed/embed"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
