# Parallelizer — GNU Makefile.
#
#   make              build the runtime, the Guile extension and the modules
#   make check        install missing packages, build, run every test suite
#   make check-quick  the fast tier of the suites (see tests/SUITES)
#   make check-soak   the multiprocessing soak at full length (2,000 runs,
#                     1,000 failing runs, 1,000 share/collect cycles)
#   make demo         install missing packages, build, run the main example
#   make examples     build the C kernels and the embedding program of examples/
#   make bench        run the benchmarks (peers side by side, as ratios)
#   make doc          the Texinfo manual as info and HTML
#   make doc-timeline draw the manual's run timeline again (doc/timeline.svg)
#   make install      PREFIX=/usr/local DESTDIR= ; make uninstall
#   make deps         install the Debian packages the targets above need
#   make fuzz         run the fuzz targets (FUZZ_SECONDS each, default 600)
#   make check-asan   the C and Scheme suites built with ASan and UBSan
#   make check-valgrind  the C suites under valgrind's memcheck
#
# Everything is built under build/; ./pre-inst-env runs a command against
# that uninstalled build.

# --- Installation directories --------------------------------------------
#
# Every directory derives from PREFIX and each can be set on its own, on
# the command line of both `make` and `make install`. The libraries' run
# path, the pkg-config files and the installed launcher name them, and are
# made again whenever one of them changes (see $(CONFIG) below).

PREFIX       ?= /usr/local
BINDIR       ?= $(PREFIX)/bin
LIBDIR       ?= $(PREFIX)/lib
INCLUDEDIR   ?= $(PREFIX)/include
DATADIR      ?= $(PREFIX)/share
INFODIR      ?= $(DATADIR)/info
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig

# Guile's conventions: source modules under share/guile/site/VERSION,
# compiled modules under lib/guile/VERSION/site-ccache, extensions under
# lib/guile/VERSION/extensions.
GUILE_EFFECTIVE_VERSION ?= 3.0
GUILE_SITE_DIR   ?= $(DATADIR)/guile/site/$(GUILE_EFFECTIVE_VERSION)
GUILE_CCACHE_DIR ?= $(LIBDIR)/guile/$(GUILE_EFFECTIVE_VERSION)/site-ccache
GUILE_EXT_DIR    ?= $(LIBDIR)/guile/$(GUILE_EFFECTIVE_VERSION)/extensions

CONFIG_VARS := PREFIX BINDIR LIBDIR INCLUDEDIR DATADIR INFODIR PKGCONFIGDIR \
               GUILE_SITE_DIR GUILE_CCACHE_DIR GUILE_EXT_DIR VERSION

# --- Tools and flags -----------------------------------------------------

CC         ?= cc
GUILE      ?= guile
GUILD      ?= guild
PKG_CONFIG ?= pkg-config
INSTALL    ?= install

B := build

# One version, the C header's; the libraries' SONAME carries its major
# number.
VERSION   := $(shell sed -n 's/^\#define PAR_VERSION_STRING "\(.*\)"/\1/p' \
                c/include/par/common.h)
SOVERSION := $(firstword $(subst ., ,$(VERSION)))
ifeq ($(SOVERSION),)
$(error no PAR_VERSION_STRING in c/include/par/common.h)
endif

# pkg-config is asked lazily (=) so that `make deps` works before the
# packages it installs exist.
GUILE_CFLAGS = $(shell $(PKG_CONFIG) --cflags guile-3.0 2>/dev/null)
GUILE_LIBS   = $(shell $(PKG_CONFIG) --libs guile-3.0 2>/dev/null)
MPI_CFLAGS   = $(shell $(PKG_CONFIG) --cflags ompi 2>/dev/null)
MPI_LIBS     = $(shell $(PKG_CONFIG) --libs ompi 2>/dev/null)
CBOR_LIBS    = $(shell $(PKG_CONFIG) --libs libcbor 2>/dev/null)
CHECK_CFLAGS = $(shell $(PKG_CONFIG) --cflags check 2>/dev/null)
CHECK_LIBS   = $(shell $(PKG_CONFIG) --libs check 2>/dev/null)

WARN    := -Wall -Wextra -Wno-unused-parameter
CFLAGS  ?= -O2 -g
ALL_CFLAGS = -std=gnu11 $(WARN) $(CFLAGS) -fPIC -fvisibility=hidden \
             -D_GNU_SOURCE -Ic/include -Ic/src
# A library finds the others next to it ($ORIGIN: build/lib, or the
# extension directory for the MPI extension) and the runtime in LIBDIR,
# so neither the uninstalled build nor an installation under any PREFIX
# needs LD_LIBRARY_PATH.
RPATH   = -Wl,-rpath,'$$ORIGIN' -Wl,-rpath,$(LIBDIR)

# Libraries are linked as NAME.so.VERSION with the SONAME NAME.so.MAJOR,
# and the recipe makes the two usual symlinks beside it.
soname = $(notdir $(@:.$(VERSION)=)).$(SOVERSION)
LINK_SO = $(CC) $(LDFLAGS) -shared -Wl,-soname,$(soname) -o $@
define symlink-so
cd $(@D) && ln -sf $(@F) $(soname) \
  && ln -sf $(soname) $(notdir $(@:.$(VERSION)=))
endef

# --- Sources -------------------------------------------------------------

# MPI lives in libraries of its own, so that a process loads Open MPI only
# when it makes an MPI parallelizer (or links the MPI library itself).
MPI_RUNTIME_SRC := $(wildcard c/src/mpi-*.c)
MPI_GLUE_SRC    := c/guile/mpi.c c/guile/shared-mpi.c
RUNTIME_SRC := $(filter-out $(MPI_RUNTIME_SRC),$(wildcard c/src/*.c))
GLUE_SRC    := $(filter-out $(MPI_GLUE_SRC),$(wildcard c/guile/*.c))
RUNTIME_OBJ := $(RUNTIME_SRC:%.c=$(B)/obj/%.o)
GLUE_OBJ    := $(GLUE_SRC:%.c=$(B)/obj/%.o)
MPI_RUNTIME_OBJ := $(MPI_RUNTIME_SRC:%.c=$(B)/obj/%.o)
MPI_GLUE_OBJ    := $(MPI_GLUE_SRC:%.c=$(B)/obj/%.o)

# The files as linked; each also has its .so.MAJOR and .so symlinks.
LIBPAR      := $(B)/lib/libparallelizer.so.$(VERSION)
LIBGLUE     := $(B)/lib/libguile-parallelizer.so.$(VERSION)
LIBPAR_MPI  := $(B)/lib/libparallelizer-mpi.so.$(VERSION)
LIBGLUE_MPI := $(B)/lib/libguile-parallelizer-mpi.so.$(VERSION)
RUNTIME_LIBS := $(LIBPAR) $(LIBPAR_MPI)
EXTENSIONS   := $(LIBGLUE) $(LIBGLUE_MPI)

# Installed headers: the C API of c/include, and those of the extension
# that embedding programs use (every c/guile header but its private ones),
# which go beside them in par/.
PUBLIC_HEADERS := $(wildcard c/include/par/*.h)
GLUE_HEADERS   := $(filter-out c/guile/glue.h %-internal.h, \
                    $(wildcard c/guile/*.h))

SCHEME_SRC := $(shell find scheme -name '*.scm' | sort)
SCHEME_GO  := $(SCHEME_SRC:scheme/%.scm=$(B)/go/%.go)

PC_NAMES   := parallelizer parallelizer-mpi parallelizer-guile
PC_FILES   := $(PC_NAMES:%=$(B)/pkgconfig/%.pc)
LAUNCHER   := $(B)/bin/parallelizer

CHECK_SRC  := $(wildcard tests/check_*.c)
CHECK_BIN  := $(CHECK_SRC:tests/%.c=$(B)/tests/%)
BENCH_C_SRC := $(wildcard bench/*.c)
BENCH_C_BIN := $(BENCH_C_SRC:bench/%.c=$(B)/bench/%)

# Packages (Debian bookworm names) that build, test and benchmark need;
# info reads the manual.
DEB_PACKAGES := guile-3.0 guile-3.0-dev libopenmpi-dev openmpi-bin check \
                libcbor-dev libgmp-dev make gcc pkg-config python3-cbor2 \
                python3-mpi4py python3-numpy texinfo info tmux
# The fuzz targets (clang with libFuzzer and the sanitizers' runtimes),
# check-asan (GCC's ASan and UBSan runtimes) and check-valgrind.
DEB_PACKAGES += clang libclang-rt-14-dev libasan8 libubsan1 valgrind

.PHONY: all deps check check-quick check-soak demo bench doc doc-timeline install uninstall clean \
        FORCE
.DEFAULT_GOAL := all

all: $(RUNTIME_LIBS) $(EXTENSIONS) $(SCHEME_GO) $(PC_FILES) $(LAUNCHER)

# --- Configuration stamp -------------------------------------------------
#
# $(CONFIG) holds the installation directories this build was made for. It
# is rewritten only when one of them differs from the last run, so what is
# made from them (run paths, .pc files, the launcher) is made again exactly
# when PREFIX or another directory changes, `make install PREFIX=...`
# after a plain `make` included.

CONFIG := $(B)/config.stamp

$(CONFIG): FORCE
	@mkdir -p $(@D)
	@printf '%s\n' $(foreach v,$(CONFIG_VARS),'$v=$($v)') > $@.tmp
	@if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi

# --- C libraries ---------------------------------------------------------

$(B)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(if $(filter c/guile/%,$<),$(GUILE_CFLAGS)) \
	  $(if $(filter $(MPI_RUNTIME_SRC) $(MPI_GLUE_SRC),$<),$(MPI_CFLAGS)) \
	  -MMD -MP -c $< -o $@

# The runtime names no directory; the others carry $(RPATH).
$(LIBPAR): $(RUNTIME_OBJ)
	@mkdir -p $(@D)
	$(LINK_SO) $(RUNTIME_OBJ) -lpthread -lm -lrt
	$(symlink-so)

$(LIBGLUE): $(GLUE_OBJ) $(LIBPAR) $(CONFIG)
	$(LINK_SO) $(GLUE_OBJ) -L$(B)/lib -lparallelizer $(RPATH) \
	  $(GUILE_LIBS) $(CBOR_LIBS) -lgmp -lm
	$(symlink-so)

$(LIBPAR_MPI): $(MPI_RUNTIME_OBJ) $(LIBPAR) $(CONFIG)
	$(LINK_SO) $(MPI_RUNTIME_OBJ) -L$(B)/lib -lparallelizer $(RPATH) \
	  $(MPI_LIBS)
	$(symlink-so)

$(LIBGLUE_MPI): $(MPI_GLUE_OBJ) $(LIBGLUE) $(LIBPAR_MPI) $(CONFIG)
	$(LINK_SO) $(MPI_GLUE_OBJ) -L$(B)/lib -lguile-parallelizer \
	  -lparallelizer-mpi -lparallelizer $(RPATH) $(GUILE_LIBS) $(MPI_LIBS)
	$(symlink-so)

# --- Scheme modules ------------------------------------------------------
#
# Modules are compiled against the uninstalled build. Which compiled
# module needs which others first is read from the modules themselves
# (their imports and load-extension calls) into $(B)/scheme-deps.mk, made
# again whenever a module changes.

$(B)/go/%.go: scheme/%.scm | $(LIBGLUE) pre-inst-env
	@mkdir -p $(@D)
	GUILE_AUTO_COMPILE=0 ./pre-inst-env $(GUILD) compile \
	  -Wunbound-variable -Warity-mismatch \
	  -Wformat -o $@ $< >/dev/null

# Before `make deps` has installed Guile there is nothing to read the
# modules with; the targets that need the list run after it.
$(B)/scheme-deps.mk: build-aux/scheme-deps.scm $(SCHEME_SRC)
	@mkdir -p $(@D)
	@if command -v $(GUILE) >/dev/null 2>&1; then \
	  $(GUILE) --no-auto-compile build-aux/scheme-deps.scm scheme \
	    $(SCHEME_SRC) > $@.tmp && mv $@.tmp $@; fi

ifeq ($(filter clean deps,$(MAKECMDGOALS)),)
-include $(B)/scheme-deps.mk
endif

# --- Files made from the installation directories ------------------------

# The pkg-config files: NAME.pc from PC_DESC_NAME, PC_REQUIRES_NAME,
# PC_LIBS_NAME and the extra variables PC_VARS_NAME.
, := ,
# A library outside the linker's own directories is found at run time
# through a run path in Libs; PC_RPATH= leaves it out (for a system LIBDIR
# it is left out by default).
PC_RPATH ?= $(if $(filter /usr/lib /usr/lib64 /lib /lib64 \
                          /usr/lib/$(shell $(CC) -print-multiarch \
                                       2>/dev/null),$(LIBDIR)),,\
              -Wl$(,)-rpath$(,)$${libdir})
PC_EXT_RPATH ?= -Wl,-rpath,$${extensiondir}

PC_DESC_parallelizer := SPMD parallel programs in C and Guile Scheme
PC_LIBS_parallelizer = -L$${libdir} $(strip $(PC_RPATH)) -lparallelizer
PC_DESC_parallelizer-mpi := Parallelizer communicators over Open MPI
PC_REQUIRES_parallelizer-mpi := parallelizer ompi
PC_LIBS_parallelizer-mpi = -L$${libdir} $(strip $(PC_RPATH)) \
                           -lparallelizer-mpi
PC_DESC_parallelizer-guile := Parallelizer for C programs that embed Guile
PC_REQUIRES_parallelizer-guile := parallelizer guile-3.0
PC_LIBS_parallelizer-guile = -L$${extensiondir} $(PC_EXT_RPATH) \
                             -lguile-parallelizer
PC_VARS_parallelizer-guile = 'extensiondir=$(GUILE_EXT_DIR)' \
  'sitedir=$(GUILE_SITE_DIR)' 'siteccachedir=$(GUILE_CCACHE_DIR)'

$(B)/pkgconfig/%.pc: $(CONFIG)
	@mkdir -p $(@D)
	printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$(LIBDIR)' \
	  'includedir=$(INCLUDEDIR)' $(PC_VARS_$*) '' 'Name: $*' \
	  'Description: $(PC_DESC_$*)' 'Version: $(VERSION)' \
	  $(if $(PC_REQUIRES_$*),'Requires: $(PC_REQUIRES_$*)') \
	  'Libs: $(strip $(PC_LIBS_$*))' 'Cflags: -I$${includedir}' > $@

# The installed launcher: bin/parallelizer with the directories it adds
# to Guile's load paths filled in.
$(LAUNCHER): bin/parallelizer $(CONFIG)
	@mkdir -p $(@D)
	sed -e "s|^installed_site_dir=\$$|installed_site_dir='$(GUILE_SITE_DIR)'|" \
	  -e "s|^installed_ccache_dir=\$$|installed_ccache_dir='$(GUILE_CCACHE_DIR)'|" \
	  -e "s|^installed_ext_dir=\$$|installed_ext_dir='$(GUILE_EXT_DIR)'|" \
	  bin/parallelizer > $@.tmp
	grep -q "^installed_site_dir='" $@.tmp
	chmod 755 $@.tmp && mv $@.tmp $@

# --- Dependencies --------------------------------------------------------

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

# --- Tests ---------------------------------------------------------------

$(B)/tests/%: tests/%.c $(LIBGLUE) $(LIBPAR_MPI)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(GUILE_CFLAGS) $(MPI_CFLAGS) $(CHECK_CFLAGS) \
	  -Ic/guile -o $@ $< \
	  -L$(B)/lib -lguile-parallelizer -lparallelizer-mpi -lparallelizer \
	  -Wl,-rpath,$(abspath $(B)/lib) $(GUILE_LIBS) $(CBOR_LIBS) \
	  $(CHECK_LIBS) $(MPI_LIBS)

check: deps
	$(MAKE) all $(CHECK_BIN)
	tests/run-suites

# The suites tagged "quick" in tests/SUITES: serial, the codec and one
# multiprocessing configuration.
check-quick: deps
	$(MAKE) all $(CHECK_BIN)
	tests/run-suites '#.*\<quick\>'

# The soak of tests/mp-soak.scm at the length the reliability work asks
# for; make check runs a shorter one.
check-soak: deps
	$(MAKE) all
	PARALLELIZER_SOAK=full SUITE_TIMEOUT=3600 tests/run-suites 'mp-soak'

# --- Examples, benchmarks, manual ----------------------------------------

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

# The manual's pictures: the HTML manual shows the SVG beside it, Info
# the text of the same name.
DOC_IMAGES := doc/timeline.svg doc/timeline.txt

$(B)/doc/parallelizer.info: $(wildcard doc/*.texi) $(DOC_IMAGES)
	@mkdir -p $(@D)
	makeinfo -I doc -o $@ doc/parallelizer.texi

$(B)/doc/parallelizer.html: $(wildcard doc/*.texi) $(DOC_IMAGES)
	@mkdir -p $(@D)
	makeinfo -I doc --html --no-split -o $@ doc/parallelizer.texi
	cp doc/timeline.svg $(@D)/timeline.svg

# Draw doc/timeline.svg again from a real traced run of doc/timeline.scm.
doc-timeline: all
	@mkdir -p $(B)/doc
	./pre-inst-env guile doc/timeline.scm $(B)/doc/timeline.json
	./pre-inst-env bin/parallelizer trace $(B)/doc/timeline.json \
	  -o doc/timeline.svg

# --- C kernels and embedding ---------------------------------------------
#
# Everything the C kernels and the embedding example add to the build,
# in this one block.
#
# compile-kernel compiles against the par/kernel.h of the source tree when
# the extension is an uninstalled build, and otherwise against the one in
# INCLUDEDIR, which kernel-cache.o is built with (made again when it
# changes).
$(B)/obj/c/guile/kernel-cache.o: $(CONFIG)
$(B)/obj/c/guile/kernel-cache.o: ALL_CFLAGS += \
  -DPAR_INCLUDEDIR='"$(INCLUDEDIR)"'

# par_guile_init (embed.o) appends the installation's module directories
# to Guile's load paths.
$(B)/obj/c/guile/embed.o: $(CONFIG)
$(B)/obj/c/guile/embed.o: ALL_CFLAGS += \
  -DPAR_GUILE_SITE_DIR='"$(GUILE_SITE_DIR)"' \
  -DPAR_GUILE_CCACHE_DIR='"$(GUILE_CCACHE_DIR)"'

# A library of kernels is built as any user's would be: with the headers,
# as compile-kernel builds, and nothing to link.
define build-kernel-library
@mkdir -p $(@D)
$(CC) -std=gnu11 $(WARN) $(CFLAGS) -shared -fPIC -fvisibility=hidden \
  -Ic/include -o $@ $< -lm
endef

# The kernels that tests/kernels*.scm load with load-kernel.
KERNEL_TEST_LIBS := $(B)/tests/libkernels-test.so
$(KERNEL_TEST_LIBS): tests/kernels-lib.c $(PUBLIC_HEADERS)
	$(build-kernel-library)

# `make examples`: the kernels of examples/kernels, as the libraries their
# Scheme drivers load, and the program of examples/embed, both built
# against this source tree (examples/embed/Makefile builds the program
# against an installation).
EXAMPLE_KERNELS := $(patsubst examples/kernels/%.c,$(B)/examples/kernels/lib%.so,\
                     $(wildcard examples/kernels/*.c))
EXAMPLE_EMBED   := $(B)/examples/embed/embed

$(B)/examples/kernels/lib%.so: examples/kernels/%.c $(PUBLIC_HEADERS)
	$(build-kernel-library)

$(EXAMPLE_EMBED): examples/embed/embed.c $(LIBGLUE) $(PUBLIC_HEADERS)
	@mkdir -p $(@D)
	$(CC) -std=gnu11 $(WARN) $(CFLAGS) -Ic/include $(GUILE_CFLAGS) -o $@ $< \
	  -L$(B)/lib -lguile-parallelizer -lparallelizer \
	  -Wl,-rpath,$(abspath $(B)/lib) $(GUILE_LIBS)

.PHONY: examples
examples: all $(EXAMPLE_KERNELS) $(EXAMPLE_EMBED)

# `make check` builds these too (its recipe builds $(CHECK_BIN)).
CHECK_BIN += $(KERNEL_TEST_LIBS) $(EXAMPLE_KERNELS) $(EXAMPLE_EMBED)

# --- Installation --------------------------------------------------------
#
# DESTDIR stages the whole tree elsewhere (for packaging); the files still
# name the directories without it.

# install-so DIR LIBRARY...: each library and its two symlinks.
define install-so
for f in $(2); do \
  so=$$(basename $$f .$(VERSION)); \
  $(INSTALL) -m 755 $$f $(DESTDIR)$(1)/ \
  && ln -sf $$so.$(VERSION) $(DESTDIR)$(1)/$$so.$(SOVERSION) \
  && ln -sf $$so.$(SOVERSION) $(DESTDIR)$(1)/$$so || exit 1; \
done
endef

# The directories that install makes, and uninstall removes again (when
# they are empty) up to, not including, PREFIX.
INSTALL_DIRS = $(BINDIR) $(LIBDIR) $(PKGCONFIGDIR) $(INCLUDEDIR)/par \
               $(INFODIR) $(GUILE_EXT_DIR) $(GUILE_SITE_DIR) \
               $(GUILE_CCACHE_DIR)

# The compiled modules are installed after their sources, so that Guile
# finds them newer and uses them.
install: all $(B)/doc/parallelizer.info
	$(INSTALL) -d $(addprefix $(DESTDIR),$(INSTALL_DIRS))
	$(call install-so,$(LIBDIR),$(RUNTIME_LIBS))
	$(call install-so,$(GUILE_EXT_DIR),$(EXTENSIONS))
	$(INSTALL) -m 644 c/include/parallelizer.h $(DESTDIR)$(INCLUDEDIR)/
	$(INSTALL) -m 644 $(PUBLIC_HEADERS) $(GLUE_HEADERS) \
	  $(DESTDIR)$(INCLUDEDIR)/par/
	$(INSTALL) -m 644 $(PC_FILES) $(DESTDIR)$(PKGCONFIGDIR)/
	$(INSTALL) -m 644 $(B)/doc/parallelizer.info $(DESTDIR)$(INFODIR)/
	cd scheme && for f in $(SCHEME_SRC:scheme/%=%); do \
	  $(INSTALL) -D -m 644 $$f $(DESTDIR)$(GUILE_SITE_DIR)/$$f || exit 1; \
	done
	cd $(B)/go && for f in $(SCHEME_GO:$(B)/go/%=%); do \
	  $(INSTALL) -D -m 644 $$f $(DESTDIR)$(GUILE_CCACHE_DIR)/$$f || exit 1; \
	done
	$(INSTALL) -m 755 $(LAUNCHER) $(DESTDIR)$(BINDIR)/

uninstall:
	rm -f $(foreach f,$(notdir $(RUNTIME_LIBS)),\
	        $(DESTDIR)$(LIBDIR)/$(f:.$(VERSION)=)*) \
	  $(foreach f,$(notdir $(EXTENSIONS)),\
	        $(DESTDIR)$(GUILE_EXT_DIR)/$(f:.$(VERSION)=)*) \
	  $(DESTDIR)$(INCLUDEDIR)/parallelizer.h \
	  $(PC_NAMES:%=$(DESTDIR)$(PKGCONFIGDIR)/%.pc) \
	  $(DESTDIR)$(INFODIR)/parallelizer.info \
	  $(DESTDIR)$(GUILE_SITE_DIR)/parallelizer.scm \
	  $(DESTDIR)$(GUILE_CCACHE_DIR)/parallelizer.go \
	  $(DESTDIR)$(BINDIR)/parallelizer
	rm -rf $(DESTDIR)$(INCLUDEDIR)/par \
	  $(DESTDIR)$(GUILE_SITE_DIR)/parallelizer \
	  $(DESTDIR)$(GUILE_CCACHE_DIR)/parallelizer
	@top='$(DESTDIR)$(PREFIX)'; \
	for d in $(addprefix $(DESTDIR),$(INSTALL_DIRS)); do \
	  case $$d in "$$top"/*) ;; *) continue ;; esac; \
	  while [ "$$d" != "$$top" ]; do \
	    if [ -d "$$d" ]; then rmdir "$$d" 2>/dev/null || break; fi; \
	    d=$$(dirname "$$d"); \
	  done; \
	done

# --- Fuzzing (make fuzz, and a short pass in make check) -----------------
#
# libFuzzer targets built with clang, ASan and UBSan (doc/fuzzing.texi):
# fuzz_cbor feeds any bytes to the wire decoder through the extension's C
# entry, par_scm_decode; fuzz_frames feeds frames of any header to the
# message protocol that the multiprocessing backend runs over its rings.
# They are separate builds of the sources, under $(FUZZ_B). `make fuzz`
# runs each for FUZZ_SECONDS from a corpus kept in $(FUZZ_B)/corpus and
# seeded from the value zoo; tests/fuzz-pass.sh, a suite of make check,
# runs a fixed number of inputs with a fixed seed.

FUZZ_CC      ?= clang
FUZZ_B       := $(B)/fuzz
FUZZ_SECONDS ?= 600
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS   = -std=gnu11 $(WARN) -g -O1 -fno-omit-frame-pointer \
                $(FUZZ_SAN) -fsanitize=fuzzer-no-link -D_GNU_SOURCE \
                -Ic/include -Ic/src -Ic/guile
FUZZ_RUNTIME_OBJ := $(RUNTIME_SRC:%.c=$(FUZZ_B)/obj/%.o)
FUZZ_GLUE_OBJ    := $(GLUE_SRC:%.c=$(FUZZ_B)/obj/%.o)
FUZZ_BINS := $(FUZZ_B)/fuzz_cbor $(FUZZ_B)/fuzz_frames
FUZZ_SEED := $(FUZZ_B)/seed/stamp

.PHONY: fuzz fuzz-build fuzz-targets

$(FUZZ_B)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(if $(filter c/guile/% fuzz/fuzz_cbor%,$<),\
	  $(GUILE_CFLAGS)) -MMD -MP -c $< -o $@

$(FUZZ_B)/fuzz_cbor: $(FUZZ_B)/obj/fuzz/fuzz_cbor.o $(FUZZ_GLUE_OBJ) \
                     $(FUZZ_RUNTIME_OBJ)
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(GUILE_LIBS) \
	  $(CBOR_LIBS) -lgmp -lm -lpthread -lrt

$(FUZZ_B)/fuzz_frames: $(FUZZ_B)/obj/fuzz/fuzz_frames.o $(FUZZ_RUNTIME_OBJ)
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ -lm -lpthread -lrt

# The seeds: the value zoo of the test suites, encoded by this build.
$(FUZZ_SEED): fuzz/seed-corpus.scm tests/lib/zoo.scm $(LIBGLUE) $(SCHEME_GO)
	rm -rf $(@D) && mkdir -p $(@D)
	GUILE_AUTO_COMPILE=0 ./pre-inst-env $(GUILE) -L tests/lib \
	  fuzz/seed-corpus.scm $(@D)
	touch $@

# After deps, which installs the compilers, in a make of its own: the
# prerequisites of the targets would otherwise start before it ends.
fuzz-build: | deps
	$(MAKE) fuzz-targets

fuzz-targets: $(FUZZ_BINS) $(FUZZ_SEED)

fuzz: fuzz-build
	fuzz/run --time $(FUZZ_SECONDS) cbor
	fuzz/run --time $(FUZZ_SECONDS) frames

# make check builds the fuzz targets too: tests/SUITES runs a short pass.
check: fuzz-build

-include $(FUZZ_RUNTIME_OBJ:.o=.d) $(FUZZ_GLUE_OBJ:.o=.d) \
  $(FUZZ_BINS:$(FUZZ_B)/%=$(FUZZ_B)/obj/fuzz/%.d)

# --- End of fuzzing ------------------------------------------------------

# --- Sanitizers (make check-asan) ----------------------------------------
#
# The runtime, the extensions and the Check suites built again with GCC's
# AddressSanitizer and UndefinedBehaviorSanitizer into $(ASAN_B), and the
# C and Scheme suites of tests/SUITES run against them by
# tests/check-asan.sh (the shell suites test installation and the
# launcher, not memory). They run from $(ASAN_B)/tree, a view of the
# source tree whose build/ holds the instrumented libraries and tests and
# the compiled modules of the plain build; `guile' there is a wrapper that
# preloads the ASan runtime, which must come first in an uninstrumented
# program. doc/fuzzing.texi gives the options and why.

ASAN_B     := $(B)/asan
ASAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all \
              -fno-omit-frame-pointer
ASAN_LIB    = $(shell $(CC) -print-file-name=libasan.so)
ASAN_GUILE  = $(shell command -v $(GUILE))

.PHONY: check-asan asan-build asan-c

# Run in the sub-make, where B is $(ASAN_B).
asan-c: $(RUNTIME_LIBS) $(EXTENSIONS) $(CHECK_BIN)

asan-build: all
	$(MAKE) B=$(ASAN_B) CC=gcc CFLAGS='-O1 -g $(ASAN_FLAGS)' \
	  LDFLAGS='$(ASAN_FLAGS)' asan-c
	mkdir -p $(ASAN_B)/tree/build/test-logs $(ASAN_B)/wrap
	for d in scheme bin examples doc pre-inst-env; do \
	  ln -sfn ../../../$$d $(ASAN_B)/tree/$$d || exit 1; done
	ln -sfn ../../lib $(ASAN_B)/tree/build/lib
	ln -sfn ../../tests $(ASAN_B)/tree/build/tests
	ln -sfn ../../../go $(ASAN_B)/tree/build/go
	printf '%s\n' '#!/bin/sh' \
	  'LD_PRELOAD="$(ASAN_LIB)$${LD_PRELOAD:+ $$LD_PRELOAD}" \' \
	  '  exec $(ASAN_GUILE) "$$@"' > $(ASAN_B)/wrap/guile
	chmod 755 $(ASAN_B)/wrap/guile

check-asan: deps
	$(MAKE) asan-build
	tests/check-asan.sh

# --- End of sanitizers ---------------------------------------------------

# --- Several hosts (make check-multihost) ---------------------------------
#
# The MPI suites on three hosts made on this machine as network and UTS
# namespaces joined by veth pairs, mpirun reaching them through an rsh
# agent (tests/multihost.sh, which needs root; make check runs it too,
# and it skips there, saying why, where it cannot run; here a skip is a
# failure).

.PHONY: check-multihost

check-multihost: deps
	$(MAKE) all $(CHECK_BIN)
	tests/multihost.sh --require

# --- End of several hosts ------------------------------------------------

# --- Valgrind (make check-valgrind) --------------------------------------
#
# The C suites of the plain build under memcheck, with the suppressions of
# tests/valgrind.supp (Guile's collector scans memory conservatively) and,
# for MPI, tests/valgrind-mpi.supp; see tests/valgrind.sh.

.PHONY: check-valgrind

check-valgrind: deps
	$(MAKE) all $(CHECK_BIN)
	tests/valgrind.sh

# --- End of valgrind -----------------------------------------------------

clean:
	rm -rf $(B)

-include $(RUNTIME_OBJ:.o=.d) $(GLUE_OBJ:.o=.d) $(MPI_RUNTIME_OBJ:.o=.d) \
  $(MPI_GLUE_OBJ:.o=.d)
