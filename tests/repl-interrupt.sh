#!/bin/sh
# repl-interrupt.sh — Ctrl-C typed at the REPL of `parallelizer repl`, in a
# real terminal: tmux runs the REPL in a pseudo-terminal, send-keys types,
# capture-pane reads the screen.
#
#   tests/repl-interrupt.sh
#
# Multiprocessing REPL (3 processes): Ctrl-C during a collective (a worker
# computes while the others wait in a broadcast), during the job's own
# computation (the main process computes while the workers wait), during
# the final wait for the workers (main's job has returned), and during a
# parallel-map with dynamic chunks. Each time: the REPL is back at its
# prompt, saying that the run was interrupted, no worker of the run is
# alive, nothing new is in /dev/shm, and the next run works. Then a
# background run (the REPL answers while it runs; run-wait gives its
# value) and parallel-map's progress bar on the terminal.
#
# MPI REPL (`parallelizer repl --backend mpi`, 3 ranks): Ctrl-C during an
# everywhere in which one rank computes and the others wait, during a run
# whose ranks wait in a collective for one that computes, during a run in
# which every rank computes, and during a receive: the expression is
# interrupted on every rank, the session goes on with the same ranks
# (everywhere returns the same pids), and the next run works.
#
# Being back at the prompt is waited for 10 s at most (a hang fails the
# case); the time it took is printed, not asserted. Every tmux command runs
# under `timeout`, on a tmux server of this script's own. Skipped, with the
# reason, when tmux is not installed. Prints "N passed, N failed".

set -u

top=$(cd "$(dirname "$0")/.." && pwd)
launcher="$top/build/bin/parallelizer"
tmp=$(mktemp -d)
server=repl-interrupt-$$
session=repl
passed=0
failed=0

tm() { timeout 10 tmux -L "$server" "$@"; }

cleanup() {
  if command -v tmux >/dev/null 2>&1; then
    tm kill-server >/dev/null 2>&1
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

pass() { passed=$((passed + 1)); }
fail() {
  failed=$((failed + 1))
  echo "FAIL $1"
  tm capture-pane -p -t "$session" -S -40 2>/dev/null | grep -v '^$' \
    | tail -15 | sed 's/^/  | /'
}
check() {
  name=$1; shift
  if "$@"; then pass; else fail "$name"; fi
}

if ! command -v tmux >/dev/null 2>&1; then
  echo "SKIP: tmux is not installed (it drives the REPL in a terminal)"
  echo "0 passed, 0 failed"
  exit 0
fi

now() { date +%s.%N; }
elapsed() { awk -v s="$1" -v e="$2" 'BEGIN { printf "%.2f", e - s }'; }

screen() { tm capture-pane -p -t "$session" -S -200 2>/dev/null; }

# The last line of the screen that is not empty.
last_line() { screen | grep -v '^ *$' | tail -1; }

# at_prompt: the REPL waits for input: its last line is a bare prompt.
at_prompt() {
  case "$(last_line)" in
    'scheme@(guile-user)>'*) [ "$(last_line | sed 's/ *$//')" = \
                                 'scheme@(guile-user)>' ] ;;
    *) return 1 ;;
  esac
}

# wait_until SECONDS COMMAND...: poll COMMAND every 50 ms.
wait_until() {
  limit=$1; shift
  i=0
  while [ "$i" -lt $((limit * 20)) ]; do
    "$@" && return 0
    sleep 0.05
    i=$((i + 1))
  done
  return 1
}

# type_line TEXT: type TEXT and Enter.
type_line() { tm send-keys -t "$session" -l "$1" && tm send-keys -t "$session" Enter; }

# result_of TEXT SECONDS: type TEXT (an expression whose value is printed
# as "$N = VALUE") and print VALUE once it shows.
result_of() {
  before=$(screen | grep -c '^\$[0-9]* = ')
  type_line "$1"
  wait_until "$2" sh -c "[ \$(tmux -L '$server' capture-pane -p -t '$session' \
    -S -200 | grep -c '^\\\$[0-9]* = ') -gt $before ]" || return 1
  screen | grep '^\$[0-9]* = ' | tail -1 | sed 's/^\$[0-9]* = //'
}

# alive PID: the process exists and is not a zombie.
alive() {
  [ -r "/proc/$1/stat" ] || return 1
  state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
  [ -n "$state" ] && [ "$state" != Z ]
}

# none_alive FILE EXCEPT: no pid listed in FILE but EXCEPT is alive.
none_alive() {
  [ -f "$1" ] || return 0
  for pid in $(sort -u "$1"); do
    if [ "$pid" != "$2" ] && alive "$pid"; then
      echo "  process $pid of the run is still alive"
      return 1
    fi
  done
  return 0
}

shm_list() { ls -A /dev/shm 2>/dev/null | sort; }

# wait_for_pids NAME FILE N: wait until FILE lists N pids (the processes
# of the run are at work).
wait_for_pids() {
  if wait_until 30 sh -c "[ -f '$2' ] && [ \$(sort -u '$2' | wc -l) -ge $3 ]"
  then
    sleep 0.3 # past writing their pids: at work
  else
    fail "$1: the run never started"
    return 1
  fi
}

# interrupt NAME: type Ctrl-C, then an expression, and wait until the REPL
# shows its value: the REPL is back at its prompt. Print the time it took;
# check that the REPL said the expression was interrupted.
marks=0
interrupt() {
  said=$(screen | grep -c 'interrupted')
  marks=$((marks + 1))
  start=$(now)
  tm send-keys -t "$session" C-c
  value=$(result_of "'back-$marks" 10)
  if [ "$value" = "back-$marks" ]; then
    echo "$1: back at the prompt $(elapsed "$start" "$(now)") s after Ctrl-C"
    pass
  else
    fail "$1: not back at the prompt 10 s after Ctrl-C"
    return 1
  fi
  check "$1: the REPL says the expression was interrupted" \
    [ "$(screen | grep -c 'interrupted')" -gt "$said" ]
}

# --- The multiprocessing REPL ---------------------------------------------

cat >"$tmp/mp-jobs.scm" <<EOF
(define p (lookup-parallelizer #f))
(define (note-pid! file)
  (let ((port (open-file file "a")))
    (format port "~a~%" (getpid))
    (close-port port)))
(define* (collective-job file #:key parallelizer)
  (note-pid! file)
  (when (= 1 (parallelizer-id parallelizer))
    (let loop () (loop)))
  (broadcast parallelizer 'x))
(define* (compute-job file #:key parallelizer)
  (note-pid! file)
  (when (on-main? parallelizer)
    (let loop () (loop)))
  (barrier parallelizer))
(define* (final-wait-job file #:key parallelizer)
  (note-pid! file)
  (unless (on-main? parallelizer)
    (sleep 1000))
  'main-is-done)
(define repl-pid (getpid))
(define (dynamic-map file)
  ;; The main process maps its chunks quickly, the workers never end
  ;; theirs.
  (parallel-map p (lambda (x)
                    (note-pid! file)
                    (if (= (getpid) repl-pid)
                        (usleep 50000)
                        (sleep 1000))
                    x)
                (iota 12)
                #:chunk-size 1))
(define* (ranks-job #:key parallelizer)
  (gather parallelizer (parallelizer-id parallelizer)))
(define* (slow-job n #:key parallelizer)
  (sleep 2)
  (gather parallelizer n))
(define (slow-items x) (usleep 20000) x)
EOF

tm new-session -d -s "$session" -x 200 -y 50 \
  "cd '$top' && PARALLELIZER=multiprocessing:3 ./pre-inst-env '$launcher' repl -n 3 \
     --backend multiprocessing; sleep 600"
if ! wait_until 30 at_prompt; then
  fail "multiprocessing REPL: no prompt"
else
  type_line "(load \"$tmp/mp-jobs.scm\")"
  wait_until 10 at_prompt
  repl_pid=$(result_of "(getpid)" 10)
  shm_before=$(shm_list)
  for case in "collective:(parallelizer-run p collective-job \"@F\")" \
              "computation:(parallelizer-run p compute-job \"@F\")" \
              "final wait:(parallelizer-run p final-wait-job \"@F\")" \
              "dynamic parallel-map:(dynamic-map \"@F\")"; do
    name="multiprocessing REPL, Ctrl-C during the ${case%%:*}"
    file="$tmp/pids-$(echo "${case%%:*}" | tr ' ' -)"
    expr=$(echo "${case#*:}" | sed "s|@F|$file|")
    type_line "$expr"
    if wait_for_pids "$name" "$file" 3 && interrupt "$name"; then
      check "$name: no process of the run is left" \
        wait_until 2 none_alive "$file" "$repl_pid"
      check "$name: nothing new in /dev/shm" \
        [ "$(shm_list)" = "$shm_before" ]
      ranks=$(result_of "(parallelizer-run p ranks-job)" 30)
      check "$name: the next run works (got '$ranks')" \
        [ "$ranks" = "(0 1 2)" ]
    fi
  done

  # A background run: the REPL answers while it runs, then run-wait
  # gives its value.
  name="multiprocessing REPL, a background run"
  type_line "(define h (parallelizer-start p slow-job 7))"
  check "$name: the REPL answers while it runs" \
    [ "$(result_of "(list (+ 1 2) (run-done? h))" 1)" = "(3 #f)" ]
  check "$name: run-wait gives its value" \
    [ "$(result_of "(run-wait h)" 20)" = "(7 7 7)" ]

  # The progress bar on a terminal: redrawn in place, one final line.
  name="multiprocessing REPL, the progress bar"
  check "$name: the map's value" \
    [ "$(result_of "(length (parallel-map p slow-items (iota 60) #:progress? #t))" 30)" = 60 ]
  check "$name: a final line with every item done" \
    sh -c "tmux -L '$server' capture-pane -p -t '$session' -S -200 \
             | grep -q ' 60/60 100%'"
fi
tm kill-session -t "$session" >/dev/null 2>&1

# --- The MPI REPL ---------------------------------------------------------

if command -v mpirun >/dev/null 2>&1; then
  cat >"$tmp/mpi-jobs.scm" <<'EOF'
(everywhere
 (define* (collective-job #:key parallelizer)
   (when (= 1 (parallelizer-id parallelizer))
     (let loop () (loop)))
   (broadcast parallelizer 'x))
 (define* (compute-job #:key parallelizer)
   (let loop () (loop)))
 (define* (receive-job #:key parallelizer)
   (if (on-main? parallelizer)
       (receive-from parallelizer 2)
       (sleep 1000)))
 (define* (ranks-job #:key parallelizer)
   (gather parallelizer (parallelizer-id parallelizer))))
EOF
  shm_start=$(shm_list)
  tm new-session -d -s "$session" -x 200 -y 50 \
    "cd '$top' && ./pre-inst-env '$launcher' repl -n 3 --backend mpi; \
       echo REPL ENDED \$?; sleep 600"
  if ! wait_until 60 at_prompt; then
    fail "MPI REPL: no prompt"
  else
    # Every line of the file is one form of the REPL.
    type_line "(load \"$tmp/mpi-jobs.scm\")"
    # (load) evaluates on rank 0 only: the file's everywhere does the rest.
    wait_until 20 at_prompt
    pids_before=$(result_of "(everywhere (getpid))" 20)
    for case in \
      "an everywhere where one rank computes:(everywhere (when (= 1 (parallelizer-id (lookup-parallelizer #f))) (let loop () (loop))) 'done)" \
      "a run waiting in a collective:(parallelizer-run (lookup-parallelizer #f) collective-job)" \
      "a run in which every rank computes:(parallelizer-run (lookup-parallelizer #f) compute-job)" \
      "a receive:(parallelizer-run (lookup-parallelizer #f) receive-job)"; do
      name="MPI REPL, Ctrl-C during ${case%%:*}"
      type_line "${case#*:}"
      sleep 1.5 # every rank is at work
      interrupt "$name" || continue
      pids=$(result_of "(everywhere (getpid))" 20)
      check "$name: the same ranks serve again (got '$pids')" \
        [ "$pids" = "$pids_before" ]
      ranks=$(result_of "(parallelizer-run (lookup-parallelizer #f) ranks-job)" 20)
      check "$name: the next run works (got '$ranks')" \
        [ "$ranks" = "(0 1 2)" ]
    done
    type_line ",quit"
    check "MPI REPL: the session ends when asked" \
      wait_until 20 sh -c "tmux -L '$server' capture-pane -p -t '$session' \
                             -S -200 | grep -q '^REPL ENDED 0'"
    check "MPI REPL: nothing left in /dev/shm" \
      wait_until 5 sh -c "[ \"\$(ls -A /dev/shm 2>/dev/null | sort)\" = \
                            \"$shm_start\" ]"
  fi
  tm kill-session -t "$session" >/dev/null 2>&1
else
  echo "SKIP: MPI REPL cases (no mpirun)"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
