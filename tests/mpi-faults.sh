#!/bin/sh
# mpi-faults.sh — an MPI job whose rank fails, leaves or waits for
# something that never comes must end, never hang.
#
#   tests/mpi-faults.sh
#
# Each case runs a small job under mpirun with a hard limit and checks
# that mpirun exits non-zero within 30 seconds, that its output names the
# failing rank and its error, and that the job left no shared-memory
# segment behind: Open MPI's shared-memory transport keeps one file per
# rank (vader_segment.*), which mpirun removes when the job ends however it
# ends; the jobs put them in a directory of this test
# (btl_vader_backing_directory), which is looked at after each job and
# removed at the end in any case. The cases: the defects of waits that
# never end (a receive from a rank in a collective, a rank that finishes
# or exits while another waits for it), and the fault matrix {raise, exit,
# SIGKILL} x {broadcast, scatter, gather, parallel-map, reduce-to-root,
# send/receive} on three ranks. Prints "N passed, N failed".

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
mkdir "$tmp/shm"
export OMPI_MCA_btl_vader_backing_directory="$tmp/shm"

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

# expect NAME PATTERN...: the job failed fast, left no segment, and its
# output has each PATTERN.
expect() {
  name=$1; shift
  ok=1
  why=
  if [ "$status" -eq 0 ] || [ "$status" -eq 124 ] || [ "$elapsed" -gt 30 ]
  then
    ok=0
    why="status $status after ${elapsed}s"
  fi
  for pattern in "$@"; do
    if ! grep -q -- "$pattern" "$tmp/out"; then
      ok=0
      why="${why:+$why; }no \"$pattern\" in the output"
    fi
  done
  left=$(ls "$tmp/shm")
  if [ -n "$left" ]; then
    ok=0
    why="${why:+$why; }left behind: $(echo $left)"
    rm -f "$tmp/shm"/*
  fi
  if [ $ok = 1 ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL $name ($why)"
    sed 's/^/  | /' "$tmp/out" | head -30
  fi
}

# --- A rank that fails --------------------------------------------------

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

# --- Waits that would never end -------------------------------------------

cat >"$tmp/receive-collective.scm" <<'EOF2'
(use-modules (parallelizer))
(parallelizer-run (make-mpi-parallelizer)
  (lambda* (#:key parallelizer)
    (let ((p parallelizer))
      (if (on-main? p) (receive-from p 1) (barrier p)))))
EOF2
run_job 2 "$tmp/receive-collective.scm"
expect "a receive from a rank in a barrier fails, naming both" \
  "is in receive-from rank 1 but rank 1 is in barrier (collective #1)\|\
is in barrier (collective #1) but rank 0 is in receive-from rank 1"

cat >"$tmp/each-other.scm" <<'EOF2'
(use-modules (parallelizer))
(parallelizer-run (make-mpi-parallelizer)
  (lambda* (#:key parallelizer)
    (let ((p parallelizer))
      (receive-from p (- 1 (parallelizer-id p))))))
EOF2
run_job 2 "$tmp/each-other.scm"
expect "two ranks that receive from each other fail" \
  "is in receive-from rank [01] but rank [01] is in receive-from rank [01]"

cat >"$tmp/job-ends.scm" <<'EOF2'
(use-modules (parallelizer))
(parallelizer-run (make-mpi-parallelizer)
  (lambda* (#:key parallelizer)
    (let ((p parallelizer))
      (unless (= (parallelizer-id p) 1) (barrier p)))))
EOF2
run_job 3 "$tmp/job-ends.scm"
expect "a rank whose job ends while the others wait in a barrier" \
  "rank 1 finished while rank [02] waits in barrier (collective #1)"

cat >"$tmp/script-ends.scm" <<'EOF2'
(use-modules (parallelizer))
(define p (make-mpi-parallelizer))
(parallelizer-run p (lambda* (#:key parallelizer) (barrier parallelizer)))
;; Rank 1's script ends here; the others run again and wait for it.
(unless (= (parallelizer-id p) 1)
  (parallelizer-run p (lambda* (#:key parallelizer)
                        (barrier parallelizer))))
EOF2
run_job 3 "$tmp/script-ends.scm"
expect "a rank whose script ends while the others wait in a barrier" \
  "rank 1 finished while rank [02] waits in barrier (collective #3)"

cat >"$tmp/script-ends-receive.scm" <<'EOF2'
(use-modules (parallelizer))
(define p (make-mpi-parallelizer))
(when (on-main? p)
  (parallelizer-run p (lambda* (#:key parallelizer)
                        (receive-from parallelizer 1))))
EOF2
run_job 2 "$tmp/script-ends-receive.scm"
expect "a rank whose script ends while rank 0 waits to receive from it" \
  "rank 1 finished while rank 0 waits in receive-from rank 1"

# --- The fault matrix -------------------------------------------------------

# fault_job FAULT OPERATION: a job on three ranks in which rank 1, instead
# of taking part in OPERATION, raises, exits or is killed, while the
# others do OPERATION; in parallel-map, it does so in the mapped procedure.
fault_job() {
  case $1 in
    raise) fault_expr='(error "deliberate failure on rank" 1)' ;;
    exit) fault_expr='(exit 3)' ;;
    kill) fault_expr='(kill (getpid) SIGKILL)' ;;
  esac
  case $2 in
    broadcast) op_expr='(broadcast p (and main? (iota 1000)))' ;;
    scatter) op_expr='(scatter p (and main? (iota 1000)))' ;;
    gather) op_expr='(gather p (iota 100))' ;;
    parallel-map)
      op_expr='(parallel-map p (lambda (x) (when (= x 1) (fault)) x)
                             (and main? (iota 3)))' ;;
    reduce-to-root) op_expr="(reduce-to-root p 'sum (f64vector 1 2 3))" ;;
    send/receive) op_expr='(if main?
                               (list (receive-from p 1) (receive-from p 2))
                               (send-to p (iota 100) 0))' ;;
  esac
  cat <<EOF2
(use-modules (parallelizer) (srfi srfi-4))
(parallelizer-run (make-mpi-parallelizer)
  (lambda* (#:key parallelizer)
    (let* ((p parallelizer)
           (main? (on-main? p))
           (fault (lambda () $fault_expr)))
      (barrier p)
      (if (and (= (parallelizer-id p) 1)
               (not (equal? "$2" "parallel-map")))
          (fault)
          $op_expr))))
EOF2
}

for fault in raise exit kill; do
  for op in broadcast scatter gather parallel-map reduce-to-root \
            send/receive; do
    fault_job "$fault" "$op" >"$tmp/fault.scm"
    run_job 3 "$tmp/fault.scm"
    case $fault in
      raise) expect "$fault on rank 1 in $op" "rank 1 (pid [0-9]*) failed" \
               "deliberate failure on rank" ;;
      exit) expect "$fault on rank 1 in $op" "rank 1 finished while" ;;
      kill) expect "$fault on rank 1 in $op" "rank 1" "signal 9" ;;
    esac
  done
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
