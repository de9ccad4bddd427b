# mreg: a model registry on git. See README.md.
#
#   make deps      install the Debian packages that are missing (root; .ci/deps)
#   make           build build/mreg, build/libmreg.a and build/libmreg.so (the C API of fsstore/mreg.h)
#   make test      build with AddressSanitizer + UBSan and run every test
#   make demo      register a few models in data/model_registry and promote one
#   make bench     workload W1 and friends; prints numbers, never fails
#                  (BENCH_VS=other/mreg: that binary against this one, alternating)
#   make check     layering and sizes (docs/ARCHITECTURE.md)
#   make install PREFIX=/usr/local

CC ?= cc
PREFIX ?= /usr/local
CFLAGS_BASE = -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror
OPT ?= -O2 -g
LIBS = -lgit2 -lcjson -lxxhash -lsqlite3 -lcrypto -lz -ldeflate -lpthread -lm
# The release binary links libgit2 and its dependencies statically, without
# PIE relocations, and trims two start-up costs (cmd/gitlink.c): a command is
# one process, and on this kind of machine every page fault at start counts.
STATIC_LIBS = -Wl,--wrap=git_mbedtls_stream_global_init -Wl,--wrap=git_transport_ssh_global_init \
	-Wl,--wrap=git_http_auth_negotiate \
	-Wl,--as-needed -Wl,-Bstatic -lgit2 -lmbedtls -lmbedx509 -lmbedcrypto -lhttp_parser -lpcre2-8 \
	-lssh2 -lcrypto -lz -ldeflate -lxxhash -lsqlite3 -Wl,-Bdynamic -lcjson -lm -lpthread
# The command line's allocator is jemalloc, linked statically (cmd/alloc.c
# says why); the library keeps its caller's malloc.
CLI_ALLOC = -static-libgcc -Wl,-Bstatic -ljemalloc -Wl,-Bdynamic -ldl

CORE_SRC = $(wildcard core/*.c)
STORE_SRC = $(wildcard fsstore/*.c fsstore/git/*.c fsstore/backup/*.c)
CMD_SRC = $(filter-out cmd/gitlink.c,$(wildcard cmd/*.c))
LIB_SRC = $(CORE_SRC) $(STORE_SRC)
HDRS = $(wildcard core/*.h fsstore/*.h fsstore/git/*.h fsstore/backup/*.h cmd/*.h)
UNIT_SRC = $(wildcard tests/unit/test_*.c)

B = build
A = build/asan
P = build/pic
# libmreg.so's soname follows MREG_API_VERSION (fsstore/mreg.h)
SO_MAJOR = 1
SO_VERSION = $(SO_MAJOR).0.0
PYTHON_SITE ?= $(shell /usr/bin/python3 -c 'import sys; p = "$(PREFIX)"; print(p + "/lib/python3/dist-packages" if p == "/usr" else p + "/lib/python%d.%d/dist-packages" % sys.version_info[:2])' 2>/dev/null)
SAN = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

.PHONY: all deps test unit cli demo bench bench-scale check check-layering install clean

all: $(B)/mreg $(B)/libmreg.so

$(B)/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(OPT) $(CFLAGS) -c $< -o $@

$(P)/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(OPT) -fPIC $(CFLAGS) -c $< -o $@

$(A)/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) -O1 -g $(SAN) -c $< -o $@

# Archives are made afresh: a removed source leaves no stale member, and two
# sources of one name (core/config.c, fsstore/git/config.c) are both members.
$(B)/libmreg.a: $(LIB_SRC:%.c=$(B)/%.o)
	rm -f $@ && ar rcs $@ $^

$(A)/libmreg.a: $(LIB_SRC:%.c=$(A)/%.o)
	rm -f $@ && ar rcs $@ $^

# The shared library exports mreg.h's calls only (fsstore/libmreg.map).
$(B)/libmreg.so.$(SO_VERSION): $(LIB_SRC:%.c=$(P)/%.o) fsstore/libmreg.map
	$(CC) -shared -Wl,-soname,libmreg.so.$(SO_MAJOR) -Wl,--version-script=fsstore/libmreg.map -Wl,-z,defs \
		-o $@ $(filter %.o,$^) $(LIBS)

$(B)/libmreg.so: $(B)/libmreg.so.$(SO_VERSION)
	ln -sf libmreg.so.$(SO_VERSION) $(B)/libmreg.so.$(SO_MAJOR) && ln -sf libmreg.so.$(SO_MAJOR) $@

# The same under the sanitizers, for the Python tests (they preload the runtime).
$(A)/libmreg.so: $(LIB_SRC:%.c=$(A)/pic/%.o) fsstore/libmreg.map
	$(CC) -shared $(SAN) -Wl,-soname,libmreg.so.$(SO_MAJOR) -Wl,--version-script=fsstore/libmreg.map \
		-o $@ $(filter %.o,$^) $(LIBS)

$(A)/pic/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) -O1 -g $(SAN) -fPIC -c $< -o $@

$(B)/mreg: $(CMD_SRC:%.c=$(B)/%.o) $(B)/hooks_text.o $(B)/cmd/gitlink.o $(B)/libmreg.a
	$(CC) $(OPT) -no-pie -o $@ $^ $(STATIC_LIBS) $(CLI_ALLOC)

$(A)/mreg: $(CMD_SRC:%.c=$(A)/%.o) $(A)/hooks_text.o $(A)/libmreg.a
	$(CC) $(SAN) -o $@ $^ $(LIBS)

# The scripts of hooks/ as C strings, for `mreg hooks install` (cmd/hooks_text.h).
HOOKS = $(sort $(wildcard hooks/*))
$(B)/hooks_text.c: $(HOOKS) Makefile
	@mkdir -p $(dir $@)
	awk 'BEGIN { print "/* generated from hooks/ by the Makefile: do not edit */"; \
		print "#include \"cmd/hooks_text.h\""; print "const mreg_hook_text mreg_hook_texts[] = {" } \
	FNR == 1 { if (NR > 1) print "\t},"; n = FILENAME; sub(/.*\//, "", n); printf "\t{ \"%s\",\n", n } \
	{ gsub(/\\/, "\\\\"); gsub(/"/, "\\\""); gsub(/\?/, "\\?"); gsub(/\t/, "\\t"); printf "\t  \"%s\\n\"\n", $$0 } \
	END { print "\t},"; print "\t{ NULL, NULL }"; print "};" }' $(HOOKS) >$@.tmp && mv $@.tmp $@

$(B)/hooks_text.o: $(B)/hooks_text.c cmd/hooks_text.h fsstore/store.h
	$(CC) $(CFLAGS_BASE) -I. $(OPT) $(CFLAGS) -c $< -o $@

$(A)/hooks_text.o: $(B)/hooks_text.c cmd/hooks_text.h fsstore/store.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) -I. -O1 -g $(SAN) -c $< -o $@

$(A)/tests/%: tests/unit/%.c $(A)/libmreg.a $(HDRS) $(wildcard tests/unit/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) -Icore -Ifsstore -O1 -g $(SAN) -o $@ $< $(A)/libmreg.a $(LIBS) -lcrypto -lcmocka

$(B)/bench_lib: tests/bench/bench_lib.c $(B)/cmd/gitlink.o $(B)/libmreg.a $(HDRS)
	$(CC) $(CFLAGS_BASE) $(OPT) -no-pie -o $@ $< $(B)/cmd/gitlink.o $(B)/libmreg.a $(STATIC_LIBS)

$(B)/readfloor: tests/bench/readfloor.c $(B)/libmreg.a $(HDRS)
	$(CC) $(CFLAGS_BASE) $(OPT) -o $@ $< $(B)/libmreg.a $(LIBS)

$(B)/serve_floor: tests/bench/serve_floor.c
	$(CC) $(CFLAGS_BASE) $(OPT) -o $@ $< -lmicrohttpd -lpthread

deps:
	@sh .ci/deps

# The whole suite: unit tests (cmocka) and CLI tests, all on sanitizer builds.
# Crash and concurrency tests also drive the release binary (MREG_FAST): the
# sanitizer build is slower to start than the moments they kill it at.
test: $(A)/mreg $(B)/mreg $(A)/libmreg.so $(UNIT_SRC:tests/unit/%.c=$(A)/tests/%)
	@MREG=$(CURDIR)/$(A)/mreg MREG_FAST=$(CURDIR)/$(B)/mreg UNIT_DIR=$(CURDIR)/$(A)/tests \
		PY_LIB=$(CURDIR)/$(A)/libmreg.so sh tests/run.sh

demo: $(B)/mreg
	@sh tests/demo.sh $(CURDIR)/$(B)/mreg

# floor has no mreg code and no shared library: what any command costs here
$(B)/floor: tests/bench/floor.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) -O2 -static -o $@ $<

bench: $(B)/mreg $(B)/bench_lib $(B)/floor $(B)/serve_floor $(B)/libmreg.so
	@BENCH_PYLIB=$(CURDIR)/$(B)/libmreg.so.$(SO_VERSION) sh tests/bench/bench.sh $(CURDIR)/$(B)/mreg $(CURDIR)/$(B)/bench_lib $(CURDIR)/$(B)/floor $(CURDIR)/$(B)/serve_floor

# The curves: every command at 1,000 to 1,000,000 events (tests/bench/scale.sh;
# long: the million-event registry alone is about a minute to write).
bench-scale: $(B)/mreg $(B)/bench_lib $(B)/readfloor
	@sh tests/bench/scale.sh $(CURDIR)/$(B)/mreg $(CURDIR)/$(B)/bench_lib $(CURDIR)/$(B)/readfloor

# The layering and size rules of docs/ARCHITECTURE.md (tests/check_layout.sh):
# core/ pure, git's formats in fsstore/git/ only, no file over 800 lines, no
# function over 100 without a reason.
check: check-layering

check-layering:
	@sh tests/check_layout.sh

# The man page is generated from the same command table as `mreg help`.
docs/mreg.1: $(B)/mreg
	$(B)/mreg help --man >$@

# The binary and its man page; libmreg.so with its soname links, mreg.h and
# a pkg-config file; the Python package where Debian's python3 finds it
# (PYTHON_SITE), which finds the library installed beside it.
install: $(B)/mreg $(B)/libmreg.so
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/lib/pkgconfig \
		$(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PYTHON_SITE)/mreg/compat
	install -m 755 $(B)/mreg $(DESTDIR)$(PREFIX)/bin/mreg
	install -m 644 docs/mreg.1 $(DESTDIR)$(PREFIX)/share/man/man1/mreg.1
	install -m 644 $(B)/libmreg.so.$(SO_VERSION) $(DESTDIR)$(PREFIX)/lib/
	ln -sf libmreg.so.$(SO_VERSION) $(DESTDIR)$(PREFIX)/lib/libmreg.so.$(SO_MAJOR)
	ln -sf libmreg.so.$(SO_MAJOR) $(DESTDIR)$(PREFIX)/lib/libmreg.so
	install -m 644 fsstore/mreg.h $(DESTDIR)$(PREFIX)/include/mreg.h
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(SO_VERSION)|' bindings/mreg.pc.in >$(DESTDIR)$(PREFIX)/lib/pkgconfig/mreg.pc
	install -m 644 bindings/python/mreg/*.py $(DESTDIR)$(PYTHON_SITE)/mreg/
	install -m 644 bindings/python/mreg/compat/*.py bindings/python/mreg/compat/*.sql $(DESTDIR)$(PYTHON_SITE)/mreg/compat/

clean:
	rm -rf build

# Fuzzing (tests/fuzz/README): the event parser, the state-file readers, the
# object reader and the pack indexer, built with clang's libFuzzer under ASan
# and UBSan, each run for FUZZ_SECONDS from its seed corpus; any crash, leak, undefined
# behaviour or slow input fails. Only these targets need clang.
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZERS = event state odb index
F = build/fuzz
FUZZ_SAN = -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

.PHONY: fuzz fuzz-build $(FUZZERS:%=fuzz-%)

$(F)/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CFLAGS_BASE) -O1 -g $(FUZZ_SAN) -fsanitize=fuzzer-no-link -c $< -o $@

$(F)/libmreg.a: $(LIB_SRC:%.c=$(F)/%.o)
	rm -f $@ && ar rcs $@ $^

$(F)/fuzz_%: tests/fuzz/fuzz_%.c $(F)/libmreg.a $(HDRS)
	$(FUZZ_CC) $(CFLAGS_BASE) -Icore -Ifsstore -O1 -g $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $< $(F)/libmreg.a $(LIBS)

fuzz-build: $(FUZZERS:%=$(F)/fuzz_%)

fuzz: $(FUZZERS:%=fuzz-%)

$(FUZZERS:%=fuzz-%): fuzz-%: $(F)/fuzz_%
	@sh tests/fuzz/run.sh $(CURDIR)/$(F)/fuzz_$* $* $(FUZZ_SECONDS)
