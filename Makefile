# Parallelizer — GNU Makefile.
#
#   make            build the runtime, the Guile extension and the modules
#   make check      install missing packages, build, run every test suite
#   make demo       install missing packages, build, run the main example
#   make bench      run the benchmarks (peers side by side, as ratios)
#   make doc        the Texinfo manual as info and HTML
#   make install    PREFIX=/usr/local DESTDIR= ; make uninstall
#
# Everything is built under build/; ./pre-inst-env runs a command against
# that uninstalled build.

PREFIX     ?= /usr/local
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
BINDIR     ?= $(PREFIX)/bin
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
INFODIR    ?= $(PREFIX)/share/info

CC      ?= cc
GUILD   ?= guild
PKG_CONFIG ?= pkg-config

B := build

# pkg-config is asked lazily (=) so that `make deps` works before the
# packages it installs exist.
GUILE_CFLAGS = $(shell $(PKG_CONFIG) --cflags guile-3.0 2>/dev/null)
GUILE_LIBS   = $(shell $(PKG_CONFIG) --libs guile-3.0 2>/dev/null)
MPI_CFLAGS   = $(shell $(PKG_CONFIG) --cflags ompi 2>/dev/null)
MPI_LIBS     = $(shell $(PKG_CONFIG) --libs ompi 2>/dev/null)
CBOR_LIBS    = $(shell $(PKG_CONFIG) --libs libcbor 2>/dev/null)
CHECK_CFLAGS = $(shell $(PKG_CONFIG) --cflags check 2>/dev/null)
CHECK_LIBS   = $(shell $(PKG_CONFIG) --libs check 2>/dev/null)

# Guile's own installation directories, for `make install`.
GUILE_SITE   = $(shell $(PKG_CONFIG) --variable=sitedir guile-3.0 2>/dev/null)
GUILE_CCACHE = $(shell $(PKG_CONFIG) --variable=siteccachedir guile-3.0 2>/dev/null)
GUILE_EXTDIR = $(shell $(PKG_CONFIG) --variable=extensiondir guile-3.0 2>/dev/null)

WARN    := -Wall -Wextra -Wno-unused-parameter
CFLAGS  ?= -O2 -g
ALL_CFLAGS = -std=gnu11 $(WARN) $(CFLAGS) -fPIC -fvisibility=hidden \
             -D_GNU_SOURCE -Ic/include -Ic/src
RPATH   = -Wl,-rpath,'$$ORIGIN' -Wl,-rpath,$(LIBDIR)

# MPI lives in libraries of its own, so that a process loads Open MPI only
# when it makes an MPI parallelizer (or links the MPI library itself).
MPI_RUNTIME_SRC := $(wildcard c/src/mpi-*.c)
MPI_GLUE_SRC    := c/guile/mpi.c
RUNTIME_SRC := $(filter-out $(MPI_RUNTIME_SRC),$(wildcard c/src/*.c))
GLUE_SRC    := $(filter-out $(MPI_GLUE_SRC),$(wildcard c/guile/*.c))
RUNTIME_OBJ := $(RUNTIME_SRC:%.c=$(B)/obj/%.o)
GLUE_OBJ    := $(GLUE_SRC:%.c=$(B)/obj/%.o)
MPI_RUNTIME_OBJ := $(MPI_RUNTIME_SRC:%.c=$(B)/obj/%.o)
MPI_GLUE_OBJ    := $(MPI_GLUE_SRC:%.c=$(B)/obj/%.o)

LIBPAR      := $(B)/lib/libparallelizer.so
LIBGLUE     := $(B)/lib/libguile-parallelizer.so
LIBPAR_MPI  := $(B)/lib/libparallelizer-mpi.so
LIBGLUE_MPI := $(B)/lib/libguile-parallelizer-mpi.so

SCHEME_SRC := $(shell find scheme -name '*.scm' | sort)
SCHEME_GO  := $(SCHEME_SRC:scheme/%.scm=$(B)/go/%.go)

CHECK_SRC  := $(wildcard tests/check_*.c)
CHECK_BIN  := $(CHECK_SRC:tests/%.c=$(B)/tests/%)
BENCH_C_SRC := $(wildcard bench/*.c)
BENCH_C_BIN := $(BENCH_C_SRC:bench/%.c=$(B)/bench/%)

# Packages (Debian bookworm names) that build, test and benchmark need.
DEB_PACKAGES := guile-3.0 guile-3.0-dev libopenmpi-dev openmpi-bin check \
                libcbor-dev libgmp-dev make gcc pkg-config python3-cbor2 \
                python3-mpi4py python3-numpy texinfo tmux

.PHONY: all deps check demo bench doc install uninstall clean
.DEFAULT_GOAL := all

all: $(LIBPAR) $(LIBGLUE) $(LIBPAR_MPI) $(LIBGLUE_MPI) $(SCHEME_GO) \
     $(B)/parallelizer.pc $(B)/parallelizer-mpi.pc

$(B)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(if $(filter c/guile/%,$<),$(GUILE_CFLAGS)) \
	  $(if $(filter $(MPI_RUNTIME_SRC) $(MPI_GLUE_SRC),$<),$(MPI_CFLAGS)) \
	  -MMD -MP -c $< -o $@

$(LIBPAR): $(RUNTIME_OBJ)
	@mkdir -p $(@D)
	$(CC) -shared -o $@ $^ -lpthread -lm -lrt

$(LIBGLUE): $(GLUE_OBJ) $(LIBPAR)
	@mkdir -p $(@D)
	$(CC) -shared -o $@ $(GLUE_OBJ) -L$(B)/lib -lparallelizer $(RPATH) \
	  $(GUILE_LIBS) $(CBOR_LIBS) -lgmp -lm

$(LIBPAR_MPI): $(MPI_RUNTIME_OBJ) $(LIBPAR)
	@mkdir -p $(@D)
	$(CC) -shared -o $@ $(MPI_RUNTIME_OBJ) -L$(B)/lib -lparallelizer \
	  $(RPATH) $(MPI_LIBS)

$(LIBGLUE_MPI): $(MPI_GLUE_OBJ) $(LIBGLUE) $(LIBPAR_MPI)
	@mkdir -p $(@D)
	$(CC) -shared -o $@ $(MPI_GLUE_OBJ) -L$(B)/lib -lguile-parallelizer \
	  -lparallelizer-mpi -lparallelizer $(RPATH) $(GUILE_LIBS) $(MPI_LIBS)

# Modules are compiled against the uninstalled build. Each .go depends on
# the extension and on every module it imports (listed below).
$(B)/go/%.go: scheme/%.scm $(LIBGLUE) | pre-inst-env
	@mkdir -p $(@D)
	GUILE_AUTO_COMPILE=0 ./pre-inst-env $(GUILD) compile \
	  -Wunbound-variable -Warity-mismatch \
	  -Wformat -o $@ $< >/dev/null

-include scheme/deps.mk

$(B)/parallelizer-mpi.pc: Makefile
	@mkdir -p $(@D)
	printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$(LIBDIR)' \
	  'includedir=$(INCLUDEDIR)' '' 'Name: parallelizer-mpi' \
	  'Description: Parallelizer communicators over Open MPI' \
	  'Version: 0.1.0' 'Requires: parallelizer ompi' \
	  'Libs: -L$${libdir} -lparallelizer-mpi' 'Cflags: -I$${includedir}' > $@

$(B)/parallelizer.pc: Makefile
	@mkdir -p $(@D)
	printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$(LIBDIR)' \
	  'includedir=$(INCLUDEDIR)' '' 'Name: parallelizer' \
	  'Description: SPMD parallel programs in C and Guile Scheme' \
	  'Version: 0.1.0' \
	  'Libs: -L$${libdir} -lparallelizer' 'Cflags: -I$${includedir}' > $@

# --- Dependencies -------------------------------------------------------

deps:
	@missing=; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' \
	    || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	echo "Missing Debian packages:$$missing"; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -q $$missing; \
	else \
	  echo "Run: sudo apt-get update && sudo apt-get install -y$$missing"; \
	  exit 1; \
	fi

# --- Tests --------------------------------------------------------------

$(B)/tests/%: tests/%.c $(LIBGLUE) $(LIBPAR_MPI)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(GUILE_CFLAGS) $(MPI_CFLAGS) $(CHECK_CFLAGS) \
	  -Ic/guile -o $@ $< \
	  -L$(B)/lib -lguile-parallelizer -lparallelizer-mpi -lparallelizer \
	  -Wl,-rpath,$(abspath $(B)/lib) $(GUILE_LIBS) $(CBOR_LIBS) \
	  $(CHECK_LIBS) $(MPI_LIBS)

check: deps
	$(MAKE) all $(CHECK_BIN)
	tests/run-suites $(CHECK_BIN)

# --- Examples, benchmarks, manual --------------------------------------

demo: deps
	$(MAKE) all
	./pre-inst-env guile --no-auto-compile examples/run-job.scm

$(B)/bench/%: bench/%.c $(LIBPAR)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(MPI_CFLAGS) -o $@ $< -L$(B)/lib -lparallelizer \
	  -Wl,-rpath,$(abspath $(B)/lib) $(MPI_LIBS) -lm

bench: deps
	$(MAKE) all $(BENCH_C_BIN)
	bench/run-all

doc: $(B)/doc/parallelizer.info $(B)/doc/parallelizer.html

$(B)/doc/parallelizer.info: $(wildcard doc/*.texi)
	@mkdir -p $(@D)
	makeinfo -I doc -o $@ doc/parallelizer.texi

$(B)/doc/parallelizer.html: $(wildcard doc/*.texi)
	@mkdir -p $(@D)
	makeinfo -I doc --html --no-split -o $@ doc/parallelizer.texi

# --- Installation -------------------------------------------------------

install: all $(B)/doc/parallelizer.info
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR)/par \
	  $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(GUILE_EXTDIR) $(DESTDIR)$(BINDIR) \
	  $(DESTDIR)$(INFODIR)
	install -m 644 $(B)/doc/parallelizer.info $(DESTDIR)$(INFODIR)/
	install -m 755 $(LIBPAR) $(LIBPAR_MPI) $(DESTDIR)$(LIBDIR)/
	install -m 755 $(LIBGLUE) $(LIBGLUE_MPI) $(DESTDIR)$(GUILE_EXTDIR)/
	install -m 644 c/include/parallelizer.h $(DESTDIR)$(INCLUDEDIR)/
	install -m 644 c/include/par/*.h $(DESTDIR)$(INCLUDEDIR)/par/
	install -m 644 $(B)/parallelizer.pc $(B)/parallelizer-mpi.pc \
	  $(DESTDIR)$(PKGCONFIGDIR)/
	cd scheme && for f in $(SCHEME_SRC:scheme/%=%); do \
	  install -D -m 644 $$f $(DESTDIR)$(GUILE_SITE)/$$f; done
	cd $(B)/go && for f in $(SCHEME_GO:$(B)/go/%=%); do \
	  install -D -m 644 $$f $(DESTDIR)$(GUILE_CCACHE)/$$f; done
	install -m 755 bin/parallelizer $(DESTDIR)$(BINDIR)/

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libparallelizer.so \
	  $(DESTDIR)$(LIBDIR)/libparallelizer-mpi.so \
	  $(DESTDIR)$(GUILE_EXTDIR)/libguile-parallelizer.so \
	  $(DESTDIR)$(GUILE_EXTDIR)/libguile-parallelizer-mpi.so \
	  $(DESTDIR)$(PKGCONFIGDIR)/parallelizer-mpi.pc \
	  $(DESTDIR)$(INCLUDEDIR)/parallelizer.h \
	  $(DESTDIR)$(PKGCONFIGDIR)/parallelizer.pc \
	  $(DESTDIR)$(BINDIR)/parallelizer \
	  $(DESTDIR)$(INFODIR)/parallelizer.info
	rm -rf $(DESTDIR)$(INCLUDEDIR)/par
	rm -f $(SCHEME_SRC:scheme/%=$(DESTDIR)$(GUILE_SITE)/%) \
	  $(SCHEME_GO:$(B)/go/%=$(DESTDIR)$(GUILE_CCACHE)/%)
	-rmdir $(DESTDIR)$(GUILE_SITE)/parallelizer \
	  $(DESTDIR)$(GUILE_CCACHE)/parallelizer 2>/dev/null

clean:
	rm -rf $(B)

-include $(RUNTIME_OBJ:.o=.d) $(GLUE_OBJ:.o=.d) $(MPI_RUNTIME_OBJ:.o=.d) \
  $(MPI_GLUE_OBJ:.o=.d)
