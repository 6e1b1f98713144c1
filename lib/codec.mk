# fragment: see Makefile.am
# QR token codec and verification (base45, zlib, CBOR, COSE, replay cache).
lib_libvitaled_core_la_SOURCES += lib/base45.c lib/inflate.c lib/cbor.c \
	lib/cose.c lib/envelope.c lib/hcert.c lib/token.c lib/replay.c
lib_libvitaled_core_la_LIBADD += $(PTHREAD_LIBS)

# EU DCC test vectors (tests/data/dgc, kept in the tree with their licence:
# see its ABOUT.md) through vitalectl and the single steps.
check_PROGRAMS += tests/unit/dgc-step
tests_unit_dgc_step_SOURCES = tests/unit/dgc-step.c
tests_unit_dgc_step_LDADD = lib/libvitaled-core.la
TESTS += tests/test-dgc.py
EXTRA_DIST += tests/test-dgc.py tests/data/dgc

# Token verdicts with the test PKI and tests/tokens/mktoken.py.
check_PROGRAMS += tests/unit/token-check
tests_unit_token_check_SOURCES = tests/unit/token-check.c
tests_unit_token_check_LDADD = lib/libvitaled-core.la
TESTS += tests/test-token.py
EXTRA_DIST += tests/test-token.py

# C unit tests of the codec.
codec_unit_tests = tests/unit/test-base45 tests/unit/test-inflate tests/unit/test-cbor \
	tests/unit/test-cose tests/unit/test-replay tests/unit/test-token-kind
check_PROGRAMS += $(codec_unit_tests)
TESTS += $(codec_unit_tests)
tests_unit_test_base45_LDADD = lib/libvitaled-core.la
tests_unit_test_inflate_LDADD = lib/libvitaled-core.la $(ZLIB_LIBS)
tests_unit_test_inflate_LDFLAGS = $(AM_LDFLAGS) -Wl,--wrap=malloc
tests_unit_test_cbor_LDADD = lib/libvitaled-core.la
tests_unit_test_cose_LDADD = lib/libvitaled-core.la $(OPENSSL_LIBS)
tests_unit_test_replay_LDADD = lib/libvitaled-core.la
tests_unit_test_token_kind_LDADD = lib/libvitaled-core.la

# Personal data wiped before it is freed (free/realloc wrapped at link time).
check_PROGRAMS += tests/unit/test-wipe
TESTS += tests/unit/test-wipe
tests_unit_test_wipe_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS) $(ZLIB_CFLAGS)
tests_unit_test_wipe_LDFLAGS = $(AM_LDFLAGS) -Wl,--wrap=free,--wrap=realloc
tests_unit_test_wipe_LDADD = lib/libvitaled-core.la $(OPENSSL_LIBS) $(ZLIB_LIBS)

# Fuzzing.  Each target NAME has tests/fuzz/fuzz-NAME.c (LLVMFuzzerTestOneInput
# only) and seeds in tests/fuzz/corpus/NAME/.  `make check` replays every
# corpus through tests/fuzz/regress-NAME (plain main, any compiler); with
# --enable-fuzzing (CC=clang, best with --enable-sanitizers) `make fuzz
# FUZZ_SECONDS=N` runs each libFuzzer binary in FUZZ_TARGETS for N seconds.
FUZZ_TARGETS = base45 cbor cose token
FUZZ_SECONDS = 60
EXTRA_DIST += tests/fuzz/corpus/base45 tests/fuzz/corpus/cbor tests/fuzz/corpus/cose \
	tests/fuzz/corpus/token tests/fuzz/token-seeds.sh

codec_regress = tests/fuzz/regress-base45 tests/fuzz/regress-cbor tests/fuzz/regress-cose \
	tests/fuzz/regress-token
check_PROGRAMS += $(codec_regress)
TESTS += $(codec_regress)
tests_fuzz_regress_base45_SOURCES = tests/fuzz/fuzz-base45.c tests/fuzz/regress.c
tests_fuzz_regress_base45_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests/unit -DFUZZ_NAME=\"base45\"
tests_fuzz_regress_base45_LDADD = lib/libvitaled-core.la
tests_fuzz_regress_cbor_SOURCES = tests/fuzz/fuzz-cbor.c tests/fuzz/regress.c
tests_fuzz_regress_cbor_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests/unit -DFUZZ_NAME=\"cbor\"
tests_fuzz_regress_cbor_LDADD = lib/libvitaled-core.la
tests_fuzz_regress_cose_SOURCES = tests/fuzz/fuzz-cose.c tests/fuzz/regress.c
tests_fuzz_regress_cose_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests/unit -DFUZZ_NAME=\"cose\"
tests_fuzz_regress_cose_LDADD = lib/libvitaled-core.la $(OPENSSL_LIBS)
tests_fuzz_regress_token_SOURCES = tests/fuzz/fuzz-token.c tests/fuzz/regress.c
tests_fuzz_regress_token_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests/unit -DFUZZ_NAME=\"token\"
tests_fuzz_regress_token_LDADD = lib/libvitaled-core.la

if FUZZING
# Coverage feedback for the library code the targets call.
lib_libvitaled_core_la_CFLAGS += -fsanitize=fuzzer-no-link
noinst_PROGRAMS += tests/fuzz/fuzz-base45 tests/fuzz/fuzz-cbor tests/fuzz/fuzz-cose \
	tests/fuzz/fuzz-token
tests_fuzz_fuzz_base45_SOURCES = tests/fuzz/fuzz-base45.c
tests_fuzz_fuzz_base45_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_base45_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_base45_LDADD = lib/libvitaled-core.la
tests_fuzz_fuzz_cbor_SOURCES = tests/fuzz/fuzz-cbor.c
tests_fuzz_fuzz_cbor_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_cbor_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_cbor_LDADD = lib/libvitaled-core.la
tests_fuzz_fuzz_cose_SOURCES = tests/fuzz/fuzz-cose.c
tests_fuzz_fuzz_cose_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_cose_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_cose_LDADD = lib/libvitaled-core.la $(OPENSSL_LIBS)
tests_fuzz_fuzz_token_SOURCES = tests/fuzz/fuzz-token.c
tests_fuzz_fuzz_token_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_token_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_token_LDADD = lib/libvitaled-core.la

# The test PKI's trust store lets token inputs reach the signature checks.
fuzz: $(FUZZ_TARGETS:%=tests/fuzz/fuzz-%)
	@$(SHELL) $(top_srcdir)/tests/pki/mkpki.sh $(abs_builddir)/tests/fuzz/pki
	@$(SHELL) $(top_srcdir)/tests/fuzz/token-seeds.sh $(abs_builddir)/tests/fuzz/pki \
		tests/fuzz/work/token
	@for t in $(FUZZ_TARGETS); do \
		mkdir -p tests/fuzz/work/$$t && \
		echo "fuzz-$$t: $(FUZZ_SECONDS) s" && \
		VD_FUZZ_TRUST=$(abs_builddir)/tests/fuzz/pki/trust.d \
		./tests/fuzz/fuzz-$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
			tests/fuzz/work/$$t $(top_srcdir)/tests/fuzz/corpus/$$t \
			2>tests/fuzz/work/$$t.log; rc=$$?; \
		grep -E '^stat::number_of_executed_units|^stat::peak_rss' tests/fuzz/work/$$t.log; \
		test $$rc -eq 0 || { tail -40 tests/fuzz/work/$$t.log; exit 1; }; \
	done
else
fuzz:
	@echo "make fuzz needs: CC=clang ./configure --enable-fuzzing --enable-sanitizers" >&2
	@exit 1
endif
# Scratch corpora and the PKI of `make fuzz`, and the PKI the C unit tests
# make (tests/unit/chipimg.c).  The only clean-local of the build.
clean-local:
	rm -rf tests/fuzz/work tests/fuzz/pki tests/fuzz/pki.lock tests/pki.d

# Benchmark: tokens per second against `openssl speed` (bench/bench-token.sh).
noinst_PROGRAMS += bench/bench-token
bench_bench_token_SOURCES = bench/bench-token.c bench/speed.c bench/speed.h
bench_bench_token_LDADD = lib/libvitaled-core.la
EXTRA_DIST += bench/bench-token.sh
bench-token: bench/bench-token
	top_srcdir=$(abs_top_srcdir) top_builddir=$(abs_top_builddir) \
		$(SHELL) $(top_srcdir)/bench/bench-token.sh $(BENCH_ROUNDS)
BENCH_ROUNDS = 10
