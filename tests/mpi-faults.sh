#!/bin/sh
# mpi-faults.sh — an MPI job whose rank fails must end, never hang.
#
#   tests/mpi-faults.sh
#
# Each case runs a small job under mpirun with a hard limit and checks that
# mpirun exits non-zero within 30 seconds and that its output names the
# failing rank and its error. Prints "N passed, N failed".

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

# run_job NRANKS SCRIPT: run SCRIPT on NRANKS ranks; sets $status, $elapsed
# and leaves the output in $tmp/out.
run_job() {
  start=$(date +%s)
  timeout --kill-after=5 60 "$top/pre-inst-env" mpirun --oversubscribe \
    -n "$1" -x GUILE_LOAD_PATH -x GUILE_LOAD_COMPILED_PATH \
    -x GUILE_EXTENSIONS_PATH -x LD_LIBRARY_PATH -x GUILE_AUTO_COMPILE \
    guile "$2" >"$tmp/out" 2>&1 </dev/null
  status=$?
  elapsed=$(( $(date +%s) - start ))
}

# expect NAME PATTERN...: the job failed fast and its output has each
# PATTERN.
expect() {
  name=$1; shift
  ok=1
  if [ "$status" -eq 0 ] || [ "$status" -eq 124 ] || [ "$elapsed" -gt 30 ]
  then
    ok=0
  fi
  for pattern in "$@"; do
    grep -q -- "$pattern" "$tmp/out" || ok=0
  done
  if [ $ok = 1 ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL $name (status $status after ${elapsed}s)"
    sed 's/^/  | /' "$tmp/out" | head -30
  fi
}

cat >"$tmp/raise.scm" <<'EOF2'
(use-modules (parallelizer))
(parallelizer-run (make-mpi-parallelizer)
  (lambda* (#:key parallelizer)
    (when (= (parallelizer-id parallelizer) 2)
      (error "deliberate failure on" (parallelizer-id parallelizer)))
    (barrier parallelizer)))
EOF2
run_job 3 "$tmp/raise.scm"
expect "a rank that raises ends the job" "rank 2" "deliberate failure on"

cat >"$tmp/kill.scm" <<'EOF2'
(use-modules (parallelizer))
(parallelizer-run (make-mpi-parallelizer)
  (lambda* (#:key parallelizer)
    (when (= (parallelizer-id parallelizer) 1)
      (kill (getpid) SIGKILL))
    (barrier parallelizer)))
EOF2
run_job 3 "$tmp/kill.scm"
expect "a rank killed before a barrier ends the job" "rank 1"

cat >"$tmp/mismatch.scm" <<'EOF2'
(use-modules (parallelizer))
(parallelizer-run (make-mpi-parallelizer)
  (lambda* (#:key parallelizer)
    (if (on-main? parallelizer)
        (scatter parallelizer (iota 4))
        (gather parallelizer 'x))))
EOF2
run_job 2 "$tmp/mismatch.scm"
expect "mismatched collectives end the job and name both" "scatter" "gather"

cat >"$tmp/unsendable.scm" <<'EOF2'
(use-modules (parallelizer))
(parallelizer-run (make-mpi-parallelizer)
  (lambda* (#:key parallelizer)
    (broadcast parallelizer (list 1 car))))
EOF2
run_job 2 "$tmp/unsendable.scm"
expect "an unsendable value ends the job and names it" "rank 0" "car"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
