#!/bin/sh
# install.sh — `make install` gives a working installation, and
# `make uninstall` takes all of it away again.
#
#   tests/install.sh
#
# Two installations:
#
# 1. This build, staged with DESTDIR under its own PREFIX: every file is
#    where it belongs (libraries with their SONAME and symlinks, headers,
#    pkg-config files, modules, compiled modules, extensions, manual,
#    launcher), the staged tree works through Guile's search paths, and
#    uninstall leaves no file and no directory behind.
#
# 2. An ordinary user's `make install PREFIX=$HOME/.local`, as the README
#    shows it, from a copy of this tree. Run as root, the user is
#    parallelizer-test, created if it does not exist; otherwise it is the
#    current user. From a clean environment (env -i), the installed
#    launcher runs examples/run-job.scm on the multiprocessing and MPI
#    backends and passes tests/launcher.sh, a plain guile finds the
#    modules with the variables the README gives (and compiles a kernel
#    against the installed par/kernel.h), C programs build with
#    pkg-config (parallelizer, parallelizer-mpi, parallelizer-guile, and
#    examples/embed) and run, info opens the manual, and uninstall leaves
#    only what was there before. A plain make then makes the files that name the directories
#    again, for the default PREFIX.
#
# Every command runs under a hard timeout. Prints "N passed, N failed".

set -u

top=$(cd "$(dirname "$0")/.." && pwd)
limit=${INSTALL_TEST_TIMEOUT:-300}
test_user=parallelizer-test
mkdir -p "$top/build"
stage=$(mktemp -d "$top/build/install-test.XXXXXX")
work=
cleanup() {
  rm -rf "$stage"
  [ -n "$work" ] && rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
passed=0
failed=0
log=$stage/log

# check NAME STATUS: count a test; on failure, show the end of the log.
check() {
  if [ "$2" = 0 ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL $1"
    [ -f "$log" ] && sed 's/^/  | /' "$log" | tail -20
  fi
}

# have FILE PATTERN: FILE exists and has a line matching PATTERN (grep -E).
have() {
  [ -f "$1" ] && grep -Eq -- "$2" "$1"
}

# dynamic FILE TAG: the value of the dynamic-section entry TAG (SONAME,
# RUNPATH) of the shared library FILE.
dynamic() {
  readelf -d "$1" 2>/dev/null | sed -n "s/.*($2).*\[\(.*\)\]$/\1/p"
}

# --- 1. A staged installation of this build ---------------------------------

timeout "$limit" make -C "$top" -s install DESTDIR="$stage/root" >"$log" 2>&1
check "make install DESTDIR=..." $?

# The directories this build was made for, as make recorded them.
conf() {
  sed -n "s/^$1=//p" "$top/build/config.stamp"
}
prefix=$(conf PREFIX)
libdir=$(conf LIBDIR)
site=$(conf GUILE_SITE_DIR)
ccache=$(conf GUILE_CCACHE_DIR)
extdir=$(conf GUILE_EXT_DIR)
version=$(conf VERSION)
root=$stage/root

for f in "$(conf INCLUDEDIR)/parallelizer.h" \
         "$(conf INCLUDEDIR)/par/wire.h" \
         "$(conf PKGCONFIGDIR)/parallelizer.pc" \
         "$(conf PKGCONFIGDIR)/parallelizer-mpi.pc" \
         "$(conf PKGCONFIGDIR)/parallelizer-guile.pc" \
         "$(conf BINDIR)/parallelizer" "$(conf INFODIR)/parallelizer.info"; do
  [ -f "$root$f" ]
  check "installed $f" $?
done
for f in "$top"/c/include/par/*.h; do
  cmp -s "$f" "$root$(conf INCLUDEDIR)/par/${f##*/}"
  check "installed header par/${f##*/}" $?
done

# Every module and its compiled file, whatever modules there are.
missing=
for f in $(cd "$top/scheme" && find . -name '*.scm' | sed 's|^\./||'); do
  [ -f "$root$site/$f" ] || missing="$missing $site/$f"
  [ -f "$root$ccache/${f%.scm}.go" ] || missing="$missing $ccache/${f%.scm}.go"
done
[ -z "$missing" ]
check "every module and compiled module installed" $?
[ -n "$missing" ] && echo "missing:$missing"

# Each library as NAME.so.VERSION, with its SONAME NAME.so.MAJOR and the
# two symlinks.
major=${version%%.*}
for lib in "$libdir/libparallelizer" "$libdir/libparallelizer-mpi" \
           "$extdir/libguile-parallelizer" "$extdir/libguile-parallelizer-mpi"
do
  name=${lib##*/}
  [ -f "$root$lib.so.$version" ] && [ ! -L "$root$lib.so.$version" ] \
    && [ "$(readlink "$root$lib.so.$major")" = "$name.so.$version" ] \
    && [ "$(readlink "$root$lib.so")" = "$name.so.$major" ] \
    && [ "$(dynamic "$root$lib.so.$version" SONAME)" = "$name.so.$major" ]
  check "$lib.so.$version, its SONAME and symlinks" $?
done
case ":$(dynamic "$root$extdir/libguile-parallelizer-mpi.so.$version" \
          RUNPATH):" in
  *":$libdir:"*) true ;;
  *) false ;;
esac
check "the extensions' run path has the library directory" $?
grep -q "^installed_site_dir='$site'\$" "$root$(conf BINDIR)/parallelizer"
check "the installed launcher names the module directory" $?

# The staged modules, compiled files and extension work from a clean
# environment, without the source tree. (The libraries' run path names
# the final directory, not the staged one.)
staged() {
  env -i PATH="$PATH" HOME="$stage" \
    GUILE_LOAD_PATH="$root$site" \
    GUILE_LOAD_COMPILED_PATH="$root$ccache" \
    GUILE_EXTENSIONS_PATH="$root$extdir" \
    LD_LIBRARY_PATH="$root$libdir" "$@"
}
staged PARALLELIZER=multiprocessing:3 timeout "$limit" \
  guile --no-auto-compile "$top/examples/run-job.scm" >"$log" 2>&1
grep -q '^(334 333 333)$' "$log"
check "the installed modules run a job" $?

staged PARALLELIZER=mpi timeout "$limit" \
  guile --no-auto-compile "$top/examples/run-job.scm" >"$log" 2>&1
grep -q '^(1000)$' "$log"
check "the installed MPI extension runs a one-rank job" $?

# A C program builds against the staged headers and library.
cat >"$stage/use.c" <<'EOF'
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
EOF
timeout "$limit" cc -I"$root$(conf INCLUDEDIR)" -o "$stage/use" \
  "$stage/use.c" -L"$root$libdir" -lparallelizer >"$log" 2>&1 \
  && LD_LIBRARY_PATH="$root$libdir" timeout "$limit" "$stage/use" \
       >"$log" 2>&1 \
  && grep -q '^serial 2$' "$log"
check "a C program links against the installed library" $?

pc=$root$(conf PKGCONFIGDIR)
have "$pc/parallelizer.pc" '^Libs: -L\$\{libdir\} .*-lparallelizer$' \
  && have "$pc/parallelizer.pc" "^libdir=$libdir\$" \
  && have "$pc/parallelizer.pc" "^Version: $version\$" \
  && have "$pc/parallelizer-mpi.pc" '^Requires: parallelizer ompi$' \
  && have "$pc/parallelizer-guile.pc" '^Requires: parallelizer guile-3.0$' \
  && have "$pc/parallelizer-guile.pc" "^extensiondir=$extdir\$" \
  && have "$pc/parallelizer-guile.pc" '-lguile-parallelizer$'
check "the pkg-config files name the libraries and directories" $?

timeout "$limit" make -C "$top" -s uninstall DESTDIR="$stage/root" \
  >"$log" 2>&1
check "make uninstall" $?
left=$(find "$root$prefix" -mindepth 1 | head -5)
[ -z "$left" ]
check "make uninstall removes every file and directory it installed" $?
[ -n "$left" ] && echo "left: $left"

# --- 2. An ordinary user's installation under $HOME/.local -------------------

if [ "$(id -u)" = 0 ]; then
  # Open MPI and a user's PREFIX are tried as they are meant to be used:
  # not as root.
  if ! id -u "$test_user" >/dev/null 2>&1; then
    useradd --system --user-group --no-create-home \
      --shell /usr/sbin/nologin "$test_user" >"$log" 2>&1 \
      || id -u "$test_user" >/dev/null 2>&1   # made meanwhile by another run
  fi
  check "an unprivileged user to install as" $?
  as_user() {
    runuser -u "$test_user" -- "$@"
  }
else
  test_user=$(id -un)
  as_user() {
    "$@"
  }
fi

work=$(mktemp -d /tmp/parallelizer-install.XXXXXX)
home=$work/home
src=$work/src
user_prefix=$home/.local
mkdir -p "$home" "$src"
# The user works on a copy of this tree, which it can write to: the
# build is copied with its times, so only what depends on PREFIX is made
# again. A file of the user's own is in PREFIX before the install.
(cd "$top" && tar -cf - --exclude=./.git --exclude=./build/test-logs \
   --exclude='./build/install-test.*' .) | tar -C "$src" -xf -
mkdir -p "$user_prefix/bin"
echo "the user's own" >"$user_prefix/bin/mine"
chown -R "$test_user:" "$work" 2>/dev/null || [ "$(id -u)" != 0 ]
check "a copy of the tree for the user" $?

# clean COMMAND...: run COMMAND as the user, under the time limit, in an
# environment of nothing but HOME and a system PATH, output in $log.
clean() {
  as_user env -i HOME="$home" PATH=/usr/bin:/bin LANG=C.UTF-8 \
    timeout "$limit" "$@" >"$log" 2>&1 </dev/null
}

clean make -C "$src" -s install PREFIX="$user_prefix"
check "make install PREFIX=\$HOME/.local as $test_user" $?

usite=$user_prefix/share/guile/site/3.0
uccache=$user_prefix/lib/guile/3.0/site-ccache
uext=$user_prefix/lib/guile/3.0/extensions
for d in "$usite/parallelizer" "$uccache/parallelizer" "$uext" \
         "$user_prefix/lib/pkgconfig" "$user_prefix/include/par" \
         "$user_prefix/share/info"; do
  [ -d "$d" ]
  check "installed in $d" $?
done
case ":$(dynamic "$uext/libguile-parallelizer.so.$version" RUNPATH):" in
  *":$user_prefix/lib:"*) true ;;
  *) false ;;
esac
check "the run path follows PREFIX" $?

launcher=$user_prefix/bin/parallelizer
job=$src/examples/run-job.scm
clean "$launcher" run -n 3 "$job"
grep -q '^(334 333 333)$' "$log"
check "the installed launcher runs a multiprocessing job" $?
clean "$launcher" run -n 3 --backend mpi "$job"
grep -q '^(334 333 333)$' "$log"
check "the installed launcher runs an MPI job" $?

clean sh "$src/tests/launcher.sh" "$launcher" "$usite" "$uccache" "$uext"
line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
if [ -n "$line" ]; then
  # shellcheck disable=SC2086
  set -- $line
  passed=$((passed + $1))
  failed=$((failed + $3))
  [ "$3" = 0 ] || grep '^FAIL' "$log" | sed 's/^/  launcher.sh: /'
else
  check "tests/launcher.sh on the installed launcher" 1
fi

# A plain guile, with the three variables the README gives.
clean env GUILE_LOAD_PATH="$usite" GUILE_LOAD_COMPILED_PATH="$uccache" \
  GUILE_EXTENSIONS_PATH="$uext" PARALLELIZER=multiprocessing:2 \
  guile "$job"
grep -q '^(500 500)$' "$log"
check "a plain guile with the README's variables" $?

# C programs, with the pkg-config path the README gives and nothing else:
# the run paths find the libraries.
cp "$stage/use.c" "$work/use.c"
cat >"$work/use-mpi.c" <<'EOF'
#include <stdio.h>
#include <parallelizer.h>
#include <par/mpi.h>

int
main(void)
{
  par_comm *comm;
  long mine, total = 0;

  if (par_comm_mpi_world(&comm) != PAR_OK)
    return 1;
  mine = par_comm_rank(comm);
  if (par_comm_reduce(comm, 0, &mine, &total, 1, PAR_S64, PAR_REDUCE_SUM)
      != PAR_OK)
    par_comm_abort(comm, 1);
  if (par_comm_rank(comm) == 0)
    printf("%d ranks, sum of ranks %ld\n", par_comm_size(comm), total);
  par_comm_destroy(comm);
  return 0;
}
EOF
cat >"$work/use-guile.c" <<'EOF'
#include <stdio.h>
#include <libguile.h>
#include <parallelizer.h>
#include <par/wire.h>

int
main(void)
{
  par_wbuf buf = PAR_WBUF_INIT;
  SCM back;

  scm_init_guile();
  par_scm_encode(scm_from_int(42), &buf, "main");
  back = par_scm_decode(buf.data, buf.len, "main");
  printf("%zu bytes, %d\n", buf.len, scm_to_int(back));
  par_wbuf_free(&buf);
  return 0;
}
EOF
cp "$src/examples/embed/embed.c" "$work/embed.c"
chown "$test_user:" "$work"/use*.c "$work/embed.c" 2>/dev/null || true
pkgpath=PKG_CONFIG_PATH=$user_prefix/lib/pkgconfig
for prog in use:parallelizer use-mpi:parallelizer-mpi \
            use-guile:parallelizer-guile embed:parallelizer-guile; do
  name=${prog%%:*} pkg=${prog#*:}
  # shellcheck disable=SC2016
  clean env "$pkgpath" sh -c 'cc -o "$1" "$1.c" $(pkg-config --cflags --libs "$2")' \
    sh "$work/$name" "$pkg"
  check "a C program builds with pkg-config --cflags --libs $pkg" $?
done
clean "$work/use"
grep -q '^serial 2$' "$log"
check "it runs, finding libparallelizer with no variable set" $?
clean mpirun --oversubscribe -n 2 "$work/use-mpi"
grep -q '^2 ranks, sum of ranks 1$' "$log"
check "the MPI program runs under mpirun" $?
clean "$work/use-guile"
grep -q '^2 bytes, 42$' "$log"
check "the program that embeds Guile runs the codec" $?
# examples/embed: par_guile_init finds the installed modules by itself.
clean "$work/embed"
grep -q '^scale-by on 3 processes: #f64(0.0 2.5 5.0 7.5 10.0 12.5 15.0 17.5)$' \
  "$log"
check "examples/embed runs a job with its C kernel, no variable set" $?
# compile-kernel finds the installed par/kernel.h.
clean env GUILE_LOAD_PATH="$usite" GUILE_LOAD_COMPILED_PATH="$uccache" \
  GUILE_EXTENSIONS_PATH="$uext" guile -c '(use-modules (parallelizer))
    (define-elementwise-kernel (sq (x f64)) f64 "x * x")
    (write (sq #f64(1 2 3)))'
grep -q '^#f64(1.0 4.0 9.0)$' "$log"
check "define-elementwise-kernel compiles against the installed header" $?

clean env INFOPATH="$user_prefix/share/info:" info --output=- parallelizer
grep -q 'Node: Top' "$log" && grep -q '^Parallelizer$' "$log"
check "info opens the manual" $?

clean make -C "$src" -s uninstall PREFIX="$user_prefix"
check "make uninstall PREFIX=\$HOME/.local" $?
left=$(cd "$user_prefix" && find . -mindepth 1 | sort | tr '\n' ' ')
[ "$left" = "./bin ./bin/mine " ]
check "make uninstall leaves only what was there before" $?
[ "$left" = "./bin ./bin/mine " ] || echo "left: $left"

# A plain make afterwards makes what names the directories again, for
# the defaults.
clean make -C "$src" -s
grep -q '^prefix=/usr/local$' "$src/build/pkgconfig/parallelizer.pc" \
  && grep -q "^installed_site_dir='/usr/local/share/guile/site/3.0'\$" \
       "$src/build/bin/parallelizer" \
  && case ":$(dynamic "$src/build/lib/libguile-parallelizer.so.$version" \
               RUNPATH):" in *":/usr/local/lib:"*) true ;; *) false ;; esac
check "a plain make afterwards goes back to the default PREFIX" $?

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
