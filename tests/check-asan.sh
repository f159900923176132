#!/usr/bin/env bash
# Run the C and Scheme suites of tests/SUITES against the build made with
# ASan and UBSan (build/asan, made by `make asan-build`); `make check-asan`
# runs this. The suites run from build/asan/tree, a view of the source tree
# whose build/ holds the instrumented libraries and Check suites, with a
# `guile' first on PATH that preloads the ASan runtime.
#
# Two suites assert wall-clock bounds and counts of Guile's own file
# descriptors (tests/mp-faults.scm: a failure on main within a second;
# tests/mp-soak.scm), which the sanitizers' slowness, or a busy machine,
# can exceed: they run in a second pass, where what counts is that no
# sanitizer reported anything; every other suite must pass outright.
# Ends with "N passed, N failed" over both passes.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 2

tree=build/asan/tree
timing='tests/mp-(faults|soak)\.scm'
if [ ! -x build/asan/wrap/guile ] || [ ! -d "$tree/build" ]; then
  echo "check-asan.sh: build/asan is missing: run make asan-build" >&2
  exit 2
fi

# The tree's tests/ is a directory of links to the real files, so that it
# can have a SUITES of its own.
rm -rf "$tree/tests"
mkdir -p "$tree/tests"
for f in tests/*; do
  [ "$(basename "$f")" = SUITES ] || ln -s "../../../../$f" "$tree/tests/"
done

export PATH=$top/build/asan/wrap:$PATH
export ASAN_OPTIONS=detect_stack_use_after_return=0:detect_leaks=0
ASAN_OPTIONS=$ASAN_OPTIONS:allocator_may_return_null=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

suites() {
  grep -E '^(check|mpicheck|scheme|mpischeme)[[:space:]]' tests/SUITES
}

echo "Pass 1: the suites must pass."
suites | grep -Ev "$timing" >"$tree/tests/SUITES"
(cd "$tree" && tests/run-suites) | tee build/asan/pass1.log
read -r pass fail < <(sed -nE 's/^([0-9]+) passed, ([0-9]+) failed$/\1 \2/p' \
                        build/asan/pass1.log | tail -n 1)
pass=${pass:-0}
fail=${fail:-1}

echo
echo "Pass 2: suites with time bounds; no sanitizer may report anything."
suites | grep -E "$timing" >"$tree/tests/SUITES"
rm -f "$tree"/build/test-logs/*
(cd "$tree" && tests/run-suites) >build/asan/pass2.log 2>&1
grep -E '^tests/' build/asan/pass2.log | sed 's/^/  /'
while read -r log; do
  if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' \
       "$log"; then
    echo "sanitizer report in $log:"
    grep -E -A20 'ERROR: |runtime error:' "$log" | head -n 40
    fail=$((fail + 1))
  else
    pass=$((pass + 1))
  fi
done < <(ls "$tree"/build/test-logs/*.log)

echo
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
