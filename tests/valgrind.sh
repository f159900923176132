#!/usr/bin/env bash
# The C suites (build/tests/check_*) under valgrind's memcheck: any read of
# uninitialised or freed memory, any invalid access and any block
# definitely lost is an error, and makes the suite fail even when its own
# checks pass. The MPI suite runs on 1 and 2 ranks; of check_shm, the
# case that runs in one process. `make check-valgrind`
# runs this after building; doc/fuzzing.texi explains the suppressions
# (tests/valgrind.supp, tests/valgrind-mpi.supp). Ends with
# "N passed, N failed", a suite being one test; logs go to build/valgrind.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 2

logs=build/valgrind
mkdir -p "$logs"

vg=(valgrind -q --error-exitcode=99 --leak-check=full
    --show-leak-kinds=definite --errors-for-leak-kinds=definite
    --num-callers=30 --suppressions=tests/valgrind.supp)
mpi_supp=(--suppressions=tests/valgrind-mpi.supp)
for f in /usr/share/openmpi/openmpi-valgrind.supp \
         /usr/lib/x86_64-linux-gnu/pmix2/share/pmix/pmix-valgrind.supp; do
  [ -r "$f" ] && mpi_supp+=("--suppressions=$f")
done

# Check's time limits per test case, stretched for valgrind's slowness.
export CK_TIMEOUT_MULTIPLIER=20
if [ "$(id -u)" = 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
export OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none

pass=0
fail=0
# run NAME COMMAND...: one suite; it passes when COMMAND exits 0, which
# valgrind's --error-exitcode makes it not do after any error.
run() {
  local name=$1 log start end rc
  shift
  log=$logs/$name.log
  start=$(date +%s)
  timeout --kill-after=10 3600 "$@" >"$log" 2>&1
  rc=$?
  end=$(date +%s)
  if [ "$rc" -eq 0 ]; then
    pass=$((pass + 1))
    printf '%-34s clean     (%d s)\n' "$name" $((end - start))
  else
    fail=$((fail + 1))
    printf '%-34s FAILED    (%d s, exit %d)\n' "$name" $((end - start)) "$rc"
    grep -E '^==[0-9]+== ' "$log" | head -n 40
    tail -n 5 "$log"
  fi
}

for suite in check_runtime check_wire check_mp check_kernel; do
  run "$suite" "${vg[@]}" "build/tests/$suite"
done
# Shared memory: the objects and the allocator in one process. The cases
# whose processes borrow or open arenas do not finish within their
# timeouts under valgrind, and the kernel's recovery of robust mutexes,
# which the deaths case relies on, does not happen under it.
run check_shm-core env CK_RUN_CASE=core "${vg[@]}" build/tests/check_shm
for n in 1 2; do
  run "check_mpi-$n" mpirun --oversubscribe -n "$n" \
    "${vg[@]}" "${mpi_supp[@]}" build/tests/check_mpi
done

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
