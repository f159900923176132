#!/bin/sh
# multihost.sh — the MPI suites on three hosts made on this machine.
#
#   tests/multihost.sh [--require]
#
# Three hosts, h1, h2 and h3, each a network namespace and a UTS
# namespace of its own (so its own host name), with an interface on one
# subnet: a veth pair joins each to a bridge in a fourth namespace. mpirun
# runs on h1 and starts Open MPI's daemon on h2 and h3 through an rsh
# agent, this script called as "multihost.sh agent HOST COMMAND", which
# enters the host's namespaces as ssh would log into it; the ranks on
# different hosts talk TCP (btl tcp), those on one host shared memory.
# Every namespace is held by a sleeping process, so that the whole setup
# goes away with those processes: the script kills them when it ends
# however it ends (and they end by themselves after a while in any case),
# and no namespace, interface or mount is left on the machine.
#
# On these hosts: the MPI Check suite and the collectives, large-message
# and shared-nodes suites (the last the real case of several nodes); a job that prints each rank's host name; and faults
# across hosts: a rank killed on h2, a receive from a rank of another host
# that is in a barrier, a rank on h3 whose job ends while the others wait.
# After each job, no process of the job may remain on any host and no
# shared-memory file in the job's directory.
#
# It needs root, unshare, nsenter and ip with veth and bridge support;
# without them it says why and skips (0 passed), unless --require is given
# (make check-multihost), which makes a skip a failure. Every job runs
# under a hard timeout. Prints "N passed, N failed".

set -u

# --- The rsh agent ----------------------------------------------------------

# Open MPI runs "AGENT HOST COMMAND...", as it would "ssh HOST COMMAND...":
# the words of COMMAND are one shell command line, as ssh makes them.
if [ "${1-}" = agent ]; then
  host=$2
  shift 2
  pid=
  for entry in ${PARALLELIZER_TEST_HOSTS-}; do
    case $entry in
      "$host="*) pid=${entry#*=} ;;
    esac
  done
  if [ -z "$pid" ]; then
    echo "multihost agent: no host $host" >&2
    exit 255
  fi
  exec nsenter --target "$pid" --net --uts -- sh -c "$*"
fi

require=0
[ "${1-}" = --require ] && require=1

skip() {
  echo "multihost: skipped: $*"
  echo "0 passed, 0 failed"
  [ "$require" = 0 ]
  exit $?
}

[ "$(id -u)" = 0 ] || skip "needs root, to make network namespaces"
for tool in unshare nsenter ip mpirun; do
  command -v "$tool" >/dev/null 2>&1 || skip "no $tool"
done
unshare --net --uts sh -c 'ip link add va type veth peer name vb &&
  ip link add vbr type bridge' >/dev/null 2>&1 \
  || skip "cannot make namespaces with veth pairs and a bridge here"

export GUILE_AUTO_COMPILE=0
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

top=$(cd "$(dirname "$0")/.." && pwd)
self="$top/tests/multihost.sh"
tmp=$(mktemp -d)
holders=
passed=0
failed=0
subnet=10.213.7

cleanup() {
  [ -n "$holders" ] && kill $holders 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# hold NAME: start a process in new network and UTS namespaces whose host
# name is NAME, and set $held to its pid. It ends by itself after twenty
# minutes, should this script be killed before it kills it.
hold() {
  unshare --net --uts sh -c 'hostname "$1" && exec sleep 1200' hold "$1" \
    </dev/null >/dev/null 2>&1 &
  held=$!
  holders="$holders $held"
  # Wait until it is in its namespaces, with its name.
  for _ in $(seq 50); do
    [ "$(nsenter --target "$held" --uts hostname 2>/dev/null)" = "$1" ] \
      && return 0
    sleep 0.1
  done
  echo "multihost: cannot start host $1"
  exit 1
}

# in PID COMMAND...: run COMMAND in the namespaces of holder PID.
in_ns() {
  pid=$1
  shift
  nsenter --target "$pid" --net --uts -- "$@"
}

hold switch
switch=$held
in_ns "$switch" ip link add br0 type bridge
in_ns "$switch" ip link set br0 up
hosts=
n=0
for name in h1 h2 h3; do
  n=$((n + 1))
  hold "$name"
  eval "pid_$name=$held"
  in_ns "$switch" ip link add "port$n" type veth peer name eth0 \
    netns "$held"
  in_ns "$switch" ip link set "port$n" master br0 up
  in_ns "$held" ip addr add "$subnet.$n/24" dev eth0
  in_ns "$held" ip link set eth0 up
  in_ns "$held" ip link set lo up
  hosts="$hosts $name=$held"
  echo "$name slots=2" >>"$tmp/hostfile"
done
export PARALLELIZER_TEST_HOSTS="$hosts"
# Wait for the links to come up: h1 reaches h2 and h3.
for _ in $(seq 50); do
  in_ns "$pid_h1" sh -c "ping -c 1 -W 1 $subnet.2 && ping -c 1 -W 1 $subnet.3" \
    >/dev/null 2>&1 && break
  sleep 0.2
done

mkdir "$tmp/shm"
export OMPI_MCA_btl_vader_backing_directory="$tmp/shm"

# job SECONDS NRANKS COMMAND...: run COMMAND on NRANKS ranks spread over
# the hosts, from mpirun on h1, under a limit of SECONDS; sets $status
# and $elapsed, and leaves the output in $tmp/out.
job() {
  limit=$1 nranks=$2
  shift 2
  start=$(date +%s)
  timeout --kill-after=10 "$limit" "$top/pre-inst-env" \
    nsenter --target "$pid_h1" --net --uts -- \
    mpirun --hostfile "$tmp/hostfile" --map-by node -n "$nranks" \
      --mca plm_rsh_agent "$self agent" --mca plm_rsh_no_tree_spawn 1 \
      --mca btl tcp,vader,self \
      --mca btl_tcp_if_include "$subnet.0/24" \
      --mca oob_tcp_if_include "$subnet.0/24" \
      -x PARALLELIZER=mpi -x GUILE_LOAD_PATH -x GUILE_LOAD_COMPILED_PATH \
      -x GUILE_EXTENSIONS_PATH -x LD_LIBRARY_PATH -x GUILE_AUTO_COMPILE \
      -x OMPI_MCA_btl_vader_backing_directory \
      "$@" >"$tmp/out" 2>&1 </dev/null
  status=$?
  elapsed=$(( $(date +%s) - start ))
}

# leftovers: the processes still in a host's namespaces, besides the
# holders, and the shared-memory files left; empty when there are none.
# The job's processes may take a moment to go.
leftovers() {
  for _ in $(seq 20); do
    left=$(ls "$tmp/shm")
    for name in h1 h2 h3; do
      eval "ns=\$(readlink /proc/\$pid_$name/ns/net)"
      for p in /proc/[0-9]*; do
        [ "$(readlink "$p/ns/net" 2>/dev/null)" = "$ns" ] || continue
        case " $holders " in *" ${p#/proc/} "*) continue ;; esac
        left="$left ${p#/proc/}:$(cat "$p/comm" 2>/dev/null)@$name"
      done
    done
    [ -z "$left" ] && return 0
    sleep 0.5
  done
  echo "$left"
}

# verdict NAME OK WHY: count a case, and show the output of a failure.
verdict() {
  if [ "$2" = 1 ]; then
    passed=$((passed + 1))
    printf '%-62s ok  (%ss)\n' "$1" "$elapsed"
  else
    failed=$((failed + 1))
    echo "FAIL $1 ($3)"
    sed 's/^/  | /' "$tmp/out" | tail -30
  fi
}

# suite NAME NRANKS COMMAND...: a suite of its own that ends with its
# counts ("N passed, N failed" or Check's), on NRANKS ranks.
suite() {
  name=$1 nranks=$2
  shift 2
  job 300 "$nranks" "$@"
  line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$tmp/out" | tail -n 1)
  check=$(grep -E 'Checks: [0-9]+, Failures: [0-9]+, Errors: [0-9]+' \
            "$tmp/out" | tail -n 1)
  if [ -n "$line" ]; then
    p=$(echo "$line" | sed -E 's/^([0-9]+) passed.*/\1/')
    f=$(echo "$line" | sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/')
  elif [ -n "$check" ]; then
    set -- $(echo "$check" | sed -E \
      's/.*Checks: ([0-9]+), Failures: ([0-9]+), Errors: ([0-9]+).*/\1 \2 \3/')
    p=$(($1 - $2 - $3))
    f=$(($2 + $3))
  else
    p=0 f=0
  fi
  [ "$status" -ne 0 ] && [ "$f" -eq 0 ] && f=1
  left=$(leftovers)
  [ -n "$left" ] && f=$((f + 1))
  passed=$((passed + p))
  failed=$((failed + f))
  printf '%-46s %4d passed %3d failed  (%ss)\n' "$name on $nranks ranks" \
    "$p" "$f" "$elapsed"
  if [ "$f" -ne 0 ]; then
    [ -n "$left" ] && echo "  left behind: $left"
    sed 's/^/    | /' "$tmp/out" | tail -30
  fi
}

# expect_fault NAME NRANKS SCRIPT PATTERN...: the job of SCRIPT fails
# within 30 seconds, names each PATTERN, and leaves nothing behind.
expect_fault() {
  name=$1 nranks=$2 script=$3
  shift 3
  job 60 "$nranks" guile "$script"
  ok=1 why=
  if [ "$status" -eq 0 ] || [ "$status" -eq 124 ] || [ "$elapsed" -gt 30 ]
  then
    ok=0 why="status $status after ${elapsed}s"
  fi
  for pattern in "$@"; do
    grep -q -- "$pattern" "$tmp/out" \
      || { ok=0; why="${why:+$why; }no \"$pattern\""; }
  done
  left=$(leftovers)
  [ -n "$left" ] && { ok=0; why="${why:+$why; }left behind: $left"; }
  verdict "$name" "$ok" "$why"
}

# --- The suites -------------------------------------------------------------

cat >"$tmp/names.scm" <<'EOF2'
(use-modules (parallelizer))
(define p (make-mpi-parallelizer))
(define names
  (parallelizer-run p (lambda* (#:key parallelizer)
                        (gather parallelizer (gethostname)))))
(when (on-main? p)
  (write names)
  (newline))
EOF2
job 120 3 guile "$tmp/names.scm"
left=$(leftovers)
[ "$status" -eq 0 ] && grep -q '^("h1" "h2" "h3")$' "$tmp/out" \
  && [ -z "$left" ]
verdict "one rank on each of h1, h2 and h3" $(($? == 0)) \
  "status $status${left:+, left behind: $left}"

suite build/tests/check_mpi 3 "$top/build/tests/check_mpi"
suite tests/collectives.scm 3 guile -L "$top/tests/lib" \
  "$top/tests/collectives.scm"
suite tests/collectives.scm 4 guile -L "$top/tests/lib" \
  "$top/tests/collectives.scm"
suite tests/mpi-inline.scm 3 guile -L "$top/tests/lib" \
  "$top/tests/mpi-inline.scm"
suite tests/mpi-large.scm 3 guile -L "$top/tests/lib" \
  "$top/tests/mpi-large.scm"
# Shared memory is refused on a job across nodes, as the split on one host
# simulates it (the seed suite shares, so it runs on one host only).
suite tests/shared-nodes.scm 4 guile -L "$top/tests/lib" \
  "$top/tests/shared-nodes.scm"

# --- Faults across hosts ------------------------------------------------------

cat >"$tmp/kill.scm" <<'EOF2'
(use-modules (parallelizer))
(parallelizer-run (make-mpi-parallelizer)
  (lambda* (#:key parallelizer)
    (let ((p parallelizer))
      (barrier p)
      (when (= (parallelizer-id p) 1)
        (kill (getpid) SIGKILL))
      (allreduce p 'sum (parallelizer-id p)))))
EOF2
expect_fault "a rank killed on h2" 3 "$tmp/kill.scm" "rank 1" "h2"

cat >"$tmp/receive.scm" <<'EOF2'
(use-modules (parallelizer))
(parallelizer-run (make-mpi-parallelizer)
  (lambda* (#:key parallelizer)
    (let ((p parallelizer))
      (if (on-main? p) (receive-from p 1) (barrier p)))))
EOF2
expect_fault "a receive from a rank of h2 that is in a barrier" 2 \
  "$tmp/receive.scm" \
  "receive-from rank 1 but rank 1 is in barrier\|\
barrier (collective #1) but rank 0 is in receive-from rank 1"

cat >"$tmp/finish.scm" <<'EOF2'
(use-modules (parallelizer))
(parallelizer-run (make-mpi-parallelizer)
  (lambda* (#:key parallelizer)
    (let ((p parallelizer))
      (unless (= (parallelizer-id p) 2) (barrier p)))))
EOF2
expect_fault "a rank on h3 whose job ends while the others wait" 3 \
  "$tmp/finish.scm" "rank 2 finished while rank [01] waits in barrier"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
