#!/bin/sh
# install.sh — `make install` into a staging directory gives a working
# installation, and `make uninstall` takes all of it away again.
#
#   tests/install.sh
#
# The staged tree is used through Guile's and the linker's search paths,
# as an installation under the same prefix would be. Prints
# "N passed, N failed".

set -u

top=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$top/build"
stage=$(mktemp -d "$top/build/install-test.XXXXXX")
trap 'rm -rf "$stage"' EXIT INT TERM
passed=0
failed=0

check() {
  if [ "$2" = 0 ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL $1"
    [ -f "$stage/log" ] && sed 's/^/  | /' "$stage/log" | tail -20
  fi
}

make -C "$top" -s install DESTDIR="$stage/root" >"$stage/log" 2>&1
check "make install" $?

site=$(pkg-config --variable=sitedir guile-3.0)
ccache=$(pkg-config --variable=siteccachedir guile-3.0)
extdir=$(pkg-config --variable=extensiondir guile-3.0)
prefix=/usr/local

for f in "$prefix/lib/libparallelizer.so" "$prefix/include/parallelizer.h" \
         "$prefix/lib/libparallelizer-mpi.so" \
         "$prefix/lib/pkgconfig/parallelizer-mpi.pc" \
         "$extdir/libguile-parallelizer-mpi.so" \
         "$prefix/include/par/comm.h" "$prefix/lib/pkgconfig/parallelizer.pc" \
         "$prefix/bin/parallelizer" "$prefix/share/info/parallelizer.info" \
         "$extdir/libguile-parallelizer.so" "$site/parallelizer.scm" \
         "$ccache/parallelizer.go" "$ccache/parallelizer/collectives.go"; do
  [ -f "$stage/root$f" ]
  check "installed $f" $?
done

# The staged modules, compiled files and extension work from a clean
# environment, without the source tree.
env -i PATH="$PATH" HOME="$stage" \
  GUILE_LOAD_PATH="$stage/root$site" \
  GUILE_LOAD_COMPILED_PATH="$stage/root$ccache" \
  GUILE_EXTENSIONS_PATH="$stage/root$extdir" \
  LD_LIBRARY_PATH="$stage/root$prefix/lib" \
  PARALLELIZER=multiprocessing:3 \
  guile --no-auto-compile "$top/examples/run-job.scm" >"$stage/log" 2>&1
grep -q '^(334 333 333)$' "$stage/log"
check "the installed modules run a job" $?

env -i PATH="$PATH" HOME="$stage" \
  GUILE_LOAD_PATH="$stage/root$site" \
  GUILE_LOAD_COMPILED_PATH="$stage/root$ccache" \
  GUILE_EXTENSIONS_PATH="$stage/root$extdir" \
  LD_LIBRARY_PATH="$stage/root$prefix/lib" \
  PARALLELIZER=mpi \
  guile --no-auto-compile "$top/examples/run-job.scm" >"$stage/log" 2>&1
grep -q '^(1000)$' "$stage/log"
check "the installed MPI extension runs a one-rank job" $?

# A C program builds against the staged headers and library.
cat >"$stage/use.c" <<'EOF2'
#include <parallelizer.h>
#include <stdio.h>

int
main(void)
{
  par_comm *comm;
  double x[2] = {1, 2}, y[2];

  if (par_comm_serial_create(&comm) != PAR_OK
      || par_comm_allreduce(comm, x, y, 2, PAR_F64, PAR_REDUCE_SUM) != PAR_OK)
    return 1;
  printf("%s %g\n", par_comm_backend(comm), y[1]);
  par_comm_destroy(comm);
  return 0;
}
EOF2
cc -I"$stage/root$prefix/include" -o "$stage/use" "$stage/use.c" \
  -L"$stage/root$prefix/lib" -lparallelizer >"$stage/log" 2>&1 \
  && LD_LIBRARY_PATH="$stage/root$prefix/lib" "$stage/use" >"$stage/log" 2>&1 \
  && grep -q '^serial 2$' "$stage/log"
check "a C program links against the installed library" $?

grep -q '^Libs: -L${libdir} -lparallelizer' \
  "$stage/root$prefix/lib/pkgconfig/parallelizer.pc"
check "the pkg-config file names the library" $?

make -C "$top" -s uninstall DESTDIR="$stage/root" >"$stage/log" 2>&1
left=$(find "$stage/root" -type f | head -5)
[ -z "$left" ]
check "make uninstall removes every installed file" $?
[ -n "$left" ] && echo "left: $left"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
