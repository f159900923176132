#!/bin/sh
# launcher.sh — tests of bin/parallelizer: options, environment, errors.
#
#   tests/launcher.sh
#   tests/launcher.sh LAUNCHER SITE-DIR CCACHE-DIR EXTENSION-DIR
#
# Without arguments, tests bin/parallelizer of this source tree; with
# them, an installed launcher, which must add the directories it was
# installed with to Guile's paths. Runs from anywhere; uses guile, and
# mpirun for the MPI cases. Every command runs under a hard timeout.
# Prints "N passed, N failed" and exits non-zero if anything failed.

set -u

# Scripts are evaluated, not compiled: no compiler notes in the output.
export GUILE_AUTO_COMPILE=0

top=$(cd "$(dirname "$0")/.." && pwd)
launcher=$top/bin/parallelizer
installed=
if [ $# -gt 0 ]; then
  if [ $# != 4 ]; then
    echo "usage: $0 [LAUNCHER SITE-DIR CCACHE-DIR EXTENSION-DIR]" >&2
    exit 2
  fi
  launcher=$1 site_dir=$2 ccache_dir=$3 ext_dir=$4
  installed=1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
passed=0
failed=0
limit=${LAUNCHER_TEST_TIMEOUT:-60}

# Open MPI's own variables must not leak in from the caller: the launcher
# is what has to set them.
unset OMPI_ALLOW_RUN_AS_ROOT OMPI_ALLOW_RUN_AS_ROOT_CONFIRM PARALLELIZER \
      PARALLELIZER_SOURCE_DIR PARALLELIZER_MPIRUN_ARGS

cat >"$tmp/env.scm" <<'EOF'
(display (string-append "<" (or (getenv "PARALLELIZER") "unset") ">\n"))
(for-each (lambda (a) (display (string-append "<arg:" a ">\n")))
          (cdr (command-line)))
EOF
cat >"$tmp/paths.scm" <<'EOF'
(display (or (getenv "GUILE_LOAD_PATH") "")) (newline)
(display (or (getenv "GUILE_EXTENSIONS_PATH") "")) (newline)
(display (or (getenv "LD_LIBRARY_PATH") "")) (newline)
(display (or (getenv "GUILE_LOAD_COMPILED_PATH") "")) (newline)
EOF
printf '(exit 3)\n' >"$tmp/exit3.scm"
cp "$tmp/env.scm" "$tmp/-dash.scm"

ncpus=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN)

ok() {
  passed=$((passed + 1))
  printf 'PASS: %s\n' "$1"
}

bad() {
  failed=$((failed + 1))
  printf 'FAIL: %s\n' "$1"
  if [ -n "${2-}" ]; then
    printf '  %s\n' "$2"
  fi
}

# run CMD...: run under the time limit; output in $tmp/out and $tmp/err,
# status in $status.
run() {
  timeout "$limit" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
  status=$?
}

# expect NAME STATUS STDOUT-PATTERN: check the last run (grep -E pattern on
# stdout; empty for "don't care").
expect() {
  if [ "$status" != "$2" ]; then
    bad "$1" "exit status $status, wanted $2; stderr: $(head -c 300 "$tmp/err")"
  elif [ -n "$3" ] && ! grep -Eq -- "$3" "$tmp/out"; then
    bad "$1" "stdout lacks /$3/: $(head -c 300 "$tmp/out")"
  else
    ok "$1"
  fi
}

# usage_error NAME ARG...: exit status 2, one line on stderr, no stdout.
usage_error() {
  name=$1
  shift
  run "$launcher" "$@"
  lines=$(wc -l <"$tmp/err")
  if [ "$status" != 2 ]; then
    bad "$name" "exit status $status, wanted 2"
  elif [ "$lines" != 1 ] || [ -s "$tmp/out" ]; then
    bad "$name" "wanted one line on stderr and nothing on stdout; got" \
      "$(cat "$tmp/err" "$tmp/out")"
  elif ! grep -q '^parallelizer: ' "$tmp/err"; then
    bad "$name" "the message does not start with 'parallelizer: '"
  else
    ok "$name"
  fi
}

# --- Help and version -------------------------------------------------------

run "$launcher" --help
expect "--help" 0 '^Usage: parallelizer COMMAND'
run "$launcher" -h
expect "-h" 0 'run \[OPTION\]'
run "$launcher" run --help
expect "run --help" 0 '^Usage: parallelizer run'
run "$launcher" repl --help
expect "repl --help" 0 '^Usage: parallelizer repl'
run "$launcher" --version
expect "--version" 0 '^parallelizer [0-9]+\.[0-9]+\.[0-9]+$'

# --- Backends ---------------------------------------------------------------

run "$launcher" run "$tmp/env.scm"
expect "default backend is serial" 0 '^<serial>$'
run "$launcher" run --backend serial "$tmp/env.scm"
expect "--backend serial" 0 '^<serial>$'
run "$launcher" run -n 1 --backend serial "$tmp/env.scm"
expect "serial with -n 1" 0 '^<serial>$'
run "$launcher" run -n 3 "$tmp/env.scm"
expect "-n alone means multiprocessing" 0 '^<multiprocessing:3>$'
run "$launcher" run -n3 "$tmp/env.scm"
expect "-nN" 0 '^<multiprocessing:3>$'
run "$launcher" run --processes=4 --backend=multiprocessing "$tmp/env.scm"
expect "--processes= and --backend=" 0 '^<multiprocessing:4>$'
run "$launcher" run -b multiprocessing "$tmp/env.scm"
expect "multiprocessing defaults to the CPU count" 0 \
  "^<multiprocessing:$ncpus>\$"
run "$launcher" run -n 2 "$tmp/env.scm" one "two words" --three
if [ "$status" = 0 ] && grep -qx '<arg:one>' "$tmp/out" \
    && grep -qx '<arg:two words>' "$tmp/out" \
    && grep -qx '<arg:--three>' "$tmp/out"; then
  ok "script arguments are passed through intact"
else
  bad "script arguments are passed through intact" "$(cat "$tmp/out")"
fi
run "$launcher" run -- "$tmp/-dash.scm"
expect "-- before a script" 0 '^<serial>$'
run "$launcher" run "$tmp/exit3.scm"
expect "the script's exit status is the launcher's" 3 ''

# --- MPI --------------------------------------------------------------------

# mpirun interleaves the ranks' output in whatever pieces they write it,
# so the MPI cases count words rather than lines.
words() {
  grep -o -- "$1" "$tmp/out" | wc -l | tr -d ' '
}

if command -v mpirun >/dev/null 2>&1; then
  run "$launcher" run -n 2 --backend mpi "$tmp/env.scm" x
  if [ "$status" = 0 ] && [ "$(words '<mpi>')" = 2 ] \
      && [ "$(words '<arg:x>')" = 2 ]; then
    ok "mpi runs the script on every rank"
  else
    bad "mpi runs the script on every rank" \
      "status $status: $(head -c 300 "$tmp/out") $(head -c 300 "$tmp/err")"
  fi
  more=$((ncpus + 1))
  run "$launcher" run -n "$more" --backend mpi "$tmp/env.scm"
  if [ "$status" = 0 ] && [ "$(words '<mpi>')" = "$more" ]; then
    ok "mpi with more ranks than CPUs"
  else
    bad "mpi with more ranks than CPUs" "status $status: $(head -c 300 \
      "$tmp/err")"
  fi
  # With compilation on, the script is compiled once before the ranks
  # start, not by every rank at once with the compiler's notes.
  GUILE_AUTO_COMPILE=1 XDG_CACHE_HOME="$tmp/cache" \
    run "$launcher" run -n 2 --backend mpi "$tmp/env.scm"
  if [ "$status" = 0 ] && [ "$(words '<mpi>')" = 2 ] \
       && ! grep -q 'compil' "$tmp/out" "$tmp/err"; then
    ok "mpi compiles the script once, quietly"
  else
    bad "mpi compiles the script once, quietly" "status $status: $(head -c 300 \
      "$tmp/err")"
  fi
  printf '(+ 1 2)\n' >"$tmp/in"
  timeout "$limit" "$launcher" repl -n 2 --backend mpi <"$tmp/in" \
    >"$tmp/out" 2>"$tmp/err"
  status=$?
  expect "mpi repl on rank 0" 0 '= 3$'
  cat >"$tmp/in" <<'EOF2'
(everywhere (define* (ids #:key parallelizer)
              (gather parallelizer (parallelizer-id parallelizer))))
(parallelizer-run (lookup-parallelizer #f) ids)
(everywhere (define x (* 10 (parallelizer-id (lookup-parallelizer #f)))))
(everywhere (define* (xs #:key parallelizer) (gather parallelizer x)))
(parallelizer-run (lookup-parallelizer #f) xs)
(everywhere (list 'rank (parallelizer-id (lookup-parallelizer #f))))
EOF2
  timeout "$limit" "$launcher" repl -n 3 --backend mpi <"$tmp/in" \
    >"$tmp/out" 2>"$tmp/err"
  status=$?
  expect "mpi repl drives the other ranks" 0 '= \(0 1 2\)$'
  expect "everywhere defines on every rank" 0 '= \(0 10 20\)$'
  expect "everywhere returns every rank's value in rank order" 0 \
    '= \(\(rank 0\) \(rank 1\) \(rank 2\)\)$'
else
  printf 'SKIP: mpi cases (no mpirun)\n'
fi

run "$launcher" run --dry-run -n "$ncpus" -b mpi "$tmp/env.scm"
if grep -q -- '--oversubscribe' "$tmp/out"; then
  bad "no --oversubscribe when the CPUs suffice" "$(cat "$tmp/out")"
else
  expect "no --oversubscribe when the CPUs suffice" 0 \
    "mpirun -n $ncpus -x PARALLELIZER .*guile "
fi
run "$launcher" run --dry-run -n $((ncpus + 1)) -b mpi "$tmp/env.scm"
expect "--oversubscribe beyond the CPUs" 0 \
  "mpirun -n $((ncpus + 1)) --oversubscribe"
if [ "$(id -u)" = 0 ]; then
  expect "root gets OMPI_ALLOW_RUN_AS_ROOT" 0 \
    'OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1'
fi
expect "mpi exports the Guile paths" 0 \
  '-x GUILE_LOAD_PATH -x GUILE_LOAD_COMPILED_PATH -x GUILE_EXTENSIONS_PATH'
PARALLELIZER_MPIRUN_ARGS='--hostfile hosts' \
  run "$launcher" run --dry-run -n $((ncpus + 1)) -b mpi "$tmp/env.scm"
if grep -q -- '--oversubscribe' "$tmp/out"; then
  bad "no --oversubscribe when a hostfile places the ranks" "$(cat "$tmp/out")"
else
  expect "no --oversubscribe when a hostfile places the ranks" 0 \
    "--hostfile hosts guile "
fi
PARALLELIZER_MPIRUN_ARGS='--bind-to none' \
  run "$launcher" run --dry-run -n 2 -b mpi "$tmp/env.scm" a
expect "PARALLELIZER_MPIRUN_ARGS" 0 \
  "GUILE_AUTO_COMPILE --bind-to none guile $tmp/env.scm a\$"
run "$launcher" repl --dry-run -b mpi -n 2
expect "repl --dry-run" 0 "parallelizer-serve"

# --- Paths ------------------------------------------------------------------

mkdir -p "$tmp/inst/bin" "$tmp/src"
if [ -z "$installed" ]; then
  # An uninstalled build.
  if [ -d "$top/build" ]; then
    run "$launcher" run "$tmp/paths.scm"
    expect "source tree: load path" 0 "^$top/scheme(:|\$)"
    expect "source tree: extension path" 0 "^$top/build/lib(:|\$)"
  fi
  # A copy elsewhere of the launcher of the source tree knows no
  # directories of its own.
  cp "$launcher" "$tmp/inst/bin/parallelizer"
  GUILE_LOAD_PATH=/elsewhere run "$tmp/inst/bin/parallelizer" run \
    "$tmp/paths.scm"
  expect "outside a source tree: paths left alone" 0 '^/elsewhere$'
  mine=$tmp/src/scheme
else
  # An installed launcher adds its own directories, whatever the caller
  # has set, and nothing for the libraries: they have their run path.
  (
    unset GUILE_LOAD_PATH GUILE_LOAD_COMPILED_PATH GUILE_EXTENSIONS_PATH \
          LD_LIBRARY_PATH
    run "$launcher" run "$tmp/paths.scm"
    exit "$status"
  )
  status=$?
  if [ "$status" = 0 ] \
      && [ "$(sed -n 1p "$tmp/out")" = "$site_dir" ] \
      && [ "$(sed -n 2p "$tmp/out")" = "$ext_dir" ] \
      && [ "$(sed -n 3p "$tmp/out")" = "" ] \
      && [ "$(sed -n 4p "$tmp/out")" = "$ccache_dir" ]; then
    ok "installed: its own directories, from an empty environment"
  else
    bad "installed: its own directories, from an empty environment" \
      "status $status: $(cat "$tmp/out" "$tmp/err")"
  fi
  GUILE_LOAD_PATH=/elsewhere run "$launcher" run "$tmp/paths.scm"
  expect "installed: its directories first" 0 "^$site_dir:/elsewhere\$"
  GUILE_LOAD_PATH=/elsewhere:$site_dir run "$launcher" run "$tmp/paths.scm"
  expect "installed: paths are not added twice" 0 \
    "^/elsewhere:$site_dir\$"
  cp "$launcher" "$tmp/inst/bin/parallelizer"
  mine=$tmp/src/scheme
fi
# A source tree named by PARALLELIZER_SOURCE_DIR comes first, in place of
# the directories of an installation.
PARALLELIZER_SOURCE_DIR=$tmp/src GUILE_LOAD_PATH=/elsewhere \
  run "$tmp/inst/bin/parallelizer" run "$tmp/paths.scm"
expect "PARALLELIZER_SOURCE_DIR" 0 "^$mine:/elsewhere\$"
PARALLELIZER_SOURCE_DIR=$tmp/src GUILE_LOAD_PATH=$mine \
  run "$tmp/inst/bin/parallelizer" run "$tmp/paths.scm"
expect "paths are not added twice" 0 "^$mine\$"

# --- Usage errors -----------------------------------------------------------

usage_error "no command"
usage_error "unknown command" frobnicate
usage_error "unknown global option" --frob
usage_error "unknown run option" run --frob "$tmp/env.scm"
usage_error "unknown repl option" repl --frob
usage_error "missing script" run
usage_error "missing script after options" run -n 2 --backend mpi
usage_error "no such script" run "$tmp/absent.scm"
usage_error "-n without a value" run -n
usage_error "-n not a number" run -n two "$tmp/env.scm"
usage_error "-n zero" run -n 0 "$tmp/env.scm"
usage_error "unknown backend" run --backend threads "$tmp/env.scm"
usage_error "serial with -n 2" run --backend serial -n 2 "$tmp/env.scm"

printf '%d passed, %d failed\n' "$passed" "$failed"
[ "$failed" = 0 ]
