#!/bin/sh
# plain-mpirun.sh — a script started by plain mpirun gets an MPI default.
#
#   tests/plain-mpirun.sh
#
# "mpirun -n 4 guile script.scm", without PARALLELIZER=mpi, must run one
# MPI job of four ranks (Open MPI tells each process the size of its job
# in OMPI_COMM_WORLD_SIZE), not four serial copies of the script; an
# explicit PARALLELIZER still wins. Every job runs under a hard limit.
# Prints "N passed, N failed".

set -u

# Scripts are evaluated, not compiled: no compiler notes in the output.
export GUILE_AUTO_COMPILE=0

top=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
passed=0
failed=0

if [ "$(id -u)" = 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
export OMPI_MCA_btl=self,vader
unset PARALLELIZER

cat >"$tmp/ranks.scm" <<'EOF2'
(use-modules (parallelizer))
(define p (lookup-parallelizer #f))
(define result
  (parallelizer-run p (lambda* (#:key parallelizer)
                        (gather parallelizer (parallelizer-id parallelizer)))))
(when (on-main? p)
  (format #t "~a ~s~%" p result))
EOF2

# run NAME EXPECTED MPIRUN-ARGS...: run the script under mpirun with
# MPIRUN-ARGS and compare everything it prints with EXPECTED.
run() {
  name=$1 expected=$2
  shift 2
  timeout --kill-after=5 60 "$top/pre-inst-env" mpirun --oversubscribe \
    -x GUILE_LOAD_PATH -x GUILE_LOAD_COMPILED_PATH \
    -x GUILE_EXTENSIONS_PATH -x LD_LIBRARY_PATH -x GUILE_AUTO_COMPILE \
    "$@" guile "$tmp/ranks.scm" >"$tmp/out" 2>&1 </dev/null
  status=$?
  if [ "$status" -eq 0 ] && [ "$(cat "$tmp/out")" = "$expected" ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL $name (status $status)"
    echo "  expected: $expected"
    sed 's/^/  | /' "$tmp/out" | head -30
  fi
}

run "mpirun -n 4, no PARALLELIZER: one MPI job of 4 ranks" \
  "#<mpi-parallelizer id=0 nprocs=4> (0 1 2 3)" -n 4
run "mpirun -n 1: a job of one rank, still MPI" \
  "#<mpi-parallelizer id=0 nprocs=1> (0)" -n 1
# Each rank is then a serial program of its own, and prints.
run "PARALLELIZER=serial under mpirun: serial, as asked" \
  "$(printf '#<serial-parallelizer id=0 nprocs=1> (0)\n%.0s' 1 2)" \
  -n 2 -x PARALLELIZER=serial

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
