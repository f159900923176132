#!/bin/sh
# mp-interrupt.sh — signals from outside during a multiprocessing run.
#
#   tests/mp-interrupt.sh
#
# (a) SIGINT to the main guile process of a blocked run: the run raises,
#     the script goes on to run another job, and no worker survives; the
#     same with Ctrl-C typed at a REPL in a pseudo-terminal (tmux), where
#     the signal reaches the whole foreground process group, workers too.
# (b) SIGKILL to the main process: its workers die with it
#     (PR_SET_PDEATHSIG).
# Every command runs under `timeout`. Prints "N passed, N failed".

set -u

top=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
session=mp-interrupt-$$
cleanup() {
  if command -v tmux >/dev/null 2>&1; then
    timeout 5 tmux kill-session -t "$session" >/dev/null 2>&1
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
passed=0
failed=0

pass() { passed=$((passed + 1)); }
fail() {
  failed=$((failed + 1))
  echo "FAIL $1"
  if [ -f "$tmp/out" ]; then
    sed 's/^/  | /' "$tmp/out" | head -30
  fi
}

# check NAME CONDITION...: count a test, passed if the command succeeds.
check() {
  name=$1; shift
  if "$@"; then pass; else fail "$name"; fi
}

# wait_for_lines FILE N SECONDS: wait until FILE has N lines.
wait_for_lines() {
  i=0
  while [ "$i" -lt $(($3 * 10)) ]; do
    if [ -f "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ]; then
      return 0
    fi
    sleep 0.1
    i=$((i + 1))
  done
  return 1
}

# alive PID: the process exists and is not a zombie.
alive() {
  [ -r "/proc/$1/stat" ] || return 1
  state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
  [ -n "$state" ] && [ "$state" != Z ]
}

# none_alive FILE: no pid listed in FILE is alive.
none_alive() {
  for pid in $(cat "$1"); do
    if alive "$pid"; then
      echo "  worker $pid is still alive"
      return 1
    fi
  done
  return 0
}

# wait_none_alive FILE SECONDS: wait up to SECONDS for none_alive FILE.
wait_none_alive() {
  i=0
  while [ "$i" -lt $(($2 * 10)) ]; do
    none_alive "$1" >/dev/null && return 0
    sleep 0.1
    i=$((i + 1))
  done
  none_alive "$1"
}

# A job that blocks: every worker writes its pid to the file WORKERS, then
# rank 1 sleeps and the others wait to receive from it. The main process
# writes its pid to the file MAIN before the run.
cat >"$tmp/blocked-job.scm" <<'EOF'
(use-modules (parallelizer))

(define workers-file (cadr (command-line)))
(define main-file (caddr (command-line)))

(define p (make-multiprocessing-parallelizer #:processes 3))

(define* (blocked-job #:key parallelizer)
  (let ((me (parallelizer-id parallelizer)))
    (unless (zero? me)
      (let ((port (open-file workers-file "a")))
        (format port "~a~%" (getpid))
        (close-port port)))
    (if (= me 1)
        (sleep 100000)
        (receive-from parallelizer 1))))

(define* (ranks-job #:key parallelizer)
  (gather parallelizer (parallelizer-id parallelizer)))

(call-with-output-file main-file
  (lambda (port) (format port "~a~%" (getpid))))
EOF

# (a) SIGINT to the main process only.
cat "$tmp/blocked-job.scm" >"$tmp/sigint.scm"
cat >>"$tmp/sigint.scm" <<'EOF'
(sigaction SIGINT (lambda (signal) (throw 'interrupted)))
;; The run reports the interrupt of the main process as its failure, with
;; the handler's key as the original key.
(catch #t
  (lambda ()
    (parallelizer-run p blocked-job #:timeout 60)
    (display "RUN RETURNED\n"))
  (lambda (key . args)
    (format #t "INTERRUPTED ~a: " key)
    (print-exception (current-output-port) #f key args)
    (newline)))
(force-output)
(format #t "NEXT ~s~%" (parallelizer-run p ranks-job #:timeout 60))
EOF
rm -f "$tmp/workers" "$tmp/main" "$tmp/out"
timeout --kill-after=5 60 "$top/pre-inst-env" guile --no-auto-compile "$tmp/sigint.scm" \
  "$tmp/workers" "$tmp/main" >"$tmp/out" 2>&1 </dev/null &
job=$!
if wait_for_lines "$tmp/workers" 2 30 && wait_for_lines "$tmp/main" 1 5; then
  sleep 0.3 # the workers are past writing their pids: blocked
  start=$(date +%s.%N)
  kill -INT "$(cat "$tmp/main")"
  wait "$job" 2>/dev/null
  status=$?
  end=$(date +%s.%N)
  check "SIGINT: the script ends normally (status $status)" \
    [ "$status" -eq 0 ]
  check "SIGINT: the run raises, naming the interrupt" \
    grep -q '^INTERRUPTED.*interrupted' "$tmp/out"
  check "SIGINT: the run does not return" \
    sh -c "! grep -q 'RUN RETURNED' '$tmp/out'"
  check "SIGINT: the next job runs" grep -q '^NEXT (0 1 2)' "$tmp/out"
  check "SIGINT: no worker survives" none_alive "$tmp/workers"
  echo "SIGINT: script ended $(awk -v s="$start" -v e="$end" \
    'BEGIN { printf "%.2f", e - s }') s after the signal"
else
  fail "SIGINT: the job never started"
  kill "$job" 2>/dev/null
  wait "$job" 2>/dev/null
fi

# (b) SIGKILL to the main process.
cat "$tmp/blocked-job.scm" >"$tmp/sigkill.scm"
cat >>"$tmp/sigkill.scm" <<'EOF'
(parallelizer-run p blocked-job #:timeout 60)
(display "RUN RETURNED\n")
EOF
rm -f "$tmp/workers" "$tmp/main" "$tmp/out"
timeout --kill-after=5 60 "$top/pre-inst-env" guile --no-auto-compile "$tmp/sigkill.scm" \
  "$tmp/workers" "$tmp/main" >"$tmp/out" 2>&1 </dev/null &
job=$!
if wait_for_lines "$tmp/workers" 2 30 && wait_for_lines "$tmp/main" 1 5; then
  sleep 0.3
  check "SIGKILL: workers are running before the kill" \
    sh -c "for pid in \$(cat '$tmp/workers'); do \
             [ -r /proc/\$pid/stat ] || exit 1; done"
  kill -KILL "$(cat "$tmp/main")"
  wait "$job" 2>/dev/null
  sleep 2
  check "SIGKILL: no worker alive 2 s after main was killed" \
    none_alive "$tmp/workers"
else
  fail "SIGKILL: the job never started"
  kill "$job" 2>/dev/null
  wait "$job" 2>/dev/null
fi

# (a) again at a REPL in a pseudo-terminal: Ctrl-C cancels the run and
# returns to the prompt, where the next run works.
if command -v tmux >/dev/null 2>&1; then
  rm -f "$tmp/workers" "$tmp/main" "$tmp/out"
  cat >"$tmp/repl-init.scm" <<EOF
(load "$tmp/blocked-job.scm")
EOF
  # The REPL reads the job's file names from its command line.
  if timeout 10 tmux new-session -d -s "$session" -x 200 -y 50 \
       "cd '$top' && ./pre-inst-env guile -q --no-auto-compile -l '$tmp/repl-init.scm' \
          -- '$tmp/workers' '$tmp/main'"; then
    # Wait for the prompt.
    i=0
    while [ $i -lt 300 ]; do
      timeout 5 tmux capture-pane -p -t "$session" 2>/dev/null \
        | grep -q 'scheme@(guile-user)>' && break
      sleep 0.1
      i=$((i + 1))
    done
    timeout 5 tmux send-keys -t "$session" \
      "(parallelizer-run p blocked-job #:timeout 60)" Enter
    if wait_for_lines "$tmp/workers" 2 30; then
      sleep 0.3
      timeout 5 tmux send-keys -t "$session" C-c
      sleep 1
      timeout 5 tmux send-keys -t "$session" \
        "(format #t \"NEXT ~s~%\" (parallelizer-run p ranks-job #:timeout 60))" \
        Enter
      i=0
      while [ $i -lt 300 ]; do
        timeout 5 tmux capture-pane -p -t "$session" -S -100 \
          >"$tmp/out" 2>/dev/null
        grep -q '^NEXT' "$tmp/out" && break
        sleep 0.1
        i=$((i + 1))
      done
      check "REPL Ctrl-C: the run is cancelled (the REPL says so)" \
        grep -qi 'interrupt\|signal' "$tmp/out"
      check "REPL Ctrl-C: the next run at the prompt works" \
        grep -q '^NEXT (0 1 2)' "$tmp/out"
      check "REPL Ctrl-C: no worker of the cancelled run survives" \
        none_alive "$tmp/workers"
    else
      fail "REPL Ctrl-C: the job never started"
    fi
    timeout 5 tmux kill-session -t "$session" >/dev/null 2>&1
  else
    echo "SKIP REPL Ctrl-C: tmux cannot start a session here"
  fi
else
  echo "SKIP REPL Ctrl-C: tmux is not installed"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
