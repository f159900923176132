#!/usr/bin/env bash
# The fuzz targets (fuzz/, doc/fuzzing.texi) for a fixed number of inputs
# each, with a fixed seed from their seed corpora: the same inputs on every
# run, so a failure here is reproducible, and short enough for make check.
# `make fuzz` runs them for longer. Brings the targets up to date first
# (they are separate builds of the sources), then ends with
# "N passed, N failed", a target being one test.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 2

runs=${FUZZ_PASS_RUNS:-150000}

# A make that runs this suite passes its job server in MAKEFLAGS; the make
# started here is a separate one.
if ! env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make --no-print-directory -s \
     fuzz-build >build/fuzz-build.log 2>&1; then
  tail -n 20 build/fuzz-build.log
  echo "0 passed, 1 failed"
  exit 1
fi

pass=0
fail=0
for target in cbor frames; do
  if fuzz/run --runs "$runs" "$target"; then
    pass=$((pass + 1))
  else
    fail=$((fail + 1))
  fi
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
