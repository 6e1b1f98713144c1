# Verification engine (issue 4, chip/trust half): see HACKING.md.
lib_libvitaled_core_la_SOURCES += lib/internal.h lib/result.c lib/digest.c lib/ecsig.c \
	lib/trust.c lib/tlv.c lib/datagroups.c lib/sod.c lib/chip-verify.c lib/chip.c \
	lib/nir.c lib/rights.c lib/bundle.c

# Unit tests (TAP).  test-chip runs the Python image generator and mkpki.sh.
verify_test_ldadd = lib/libvitaled-core.la $(OPENSSL_LIBS)
check_PROGRAMS += tests/unit/test-chip
tests_unit_test_chip_SOURCES = tests/unit/test-chip.c tests/unit/chipimg.c tests/unit/chipimg.h
tests_unit_test_chip_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS)
tests_unit_test_chip_LDADD = $(verify_test_ldadd)
TESTS += tests/unit/test-chip

check_PROGRAMS += tests/unit/test-tlv tests/unit/test-rules
tests_unit_test_tlv_SOURCES = tests/unit/test-tlv.c
tests_unit_test_tlv_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS)
tests_unit_test_tlv_LDADD = $(verify_test_ldadd)
tests_unit_test_rules_SOURCES = tests/unit/test-rules.c
tests_unit_test_rules_LDADD = $(verify_test_ldadd)
TESTS += tests/unit/test-tlv tests/unit/test-rules
check_PROGRAMS += tests/unit/test-trust
tests_unit_test_trust_SOURCES = tests/unit/test-trust.c tests/unit/chipimg.c tests/unit/chipimg.h
tests_unit_test_trust_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS)
tests_unit_test_trust_LDADD = $(verify_test_ldadd)
TESTS += tests/unit/test-trust

# Benchmark: chip verifications per second against `openssl speed` (bench/speed.c
# is the floor shared with bench-token).
noinst_PROGRAMS += bench/bench-chip
bench_bench_chip_SOURCES = bench/bench-chip.c bench/speed.c bench/speed.h \
	tests/unit/chipimg.c tests/unit/chipimg.h
bench_bench_chip_CPPFLAGS = $(AM_CPPFLAGS) -DABS_TOP_SRCDIR='"$(abs_top_srcdir)"' \
	-DABS_TOP_BUILDDIR='"$(abs_top_builddir)"'
bench_bench_chip_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS)
bench_bench_chip_LDADD = $(verify_test_ldadd)
bench-chip: bench/bench-chip
	$(builddir)/bench/bench-chip $(BENCH_ROUNDS)

# Fuzzing (conventions of lib/codec.mk): corpus replay in make check, libFuzzer
# binaries with --enable-fuzzing.
FUZZ_TARGETS += tlv datagroups
EXTRA_DIST += tests/fuzz/corpus/tlv tests/fuzz/corpus/datagroups
verify_regress = tests/fuzz/regress-tlv tests/fuzz/regress-datagroups
check_PROGRAMS += $(verify_regress)
TESTS += $(verify_regress)
tests_fuzz_regress_tlv_SOURCES = tests/fuzz/fuzz-tlv.c tests/fuzz/regress.c
tests_fuzz_regress_tlv_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests/unit -DFUZZ_NAME=\"tlv\"
tests_fuzz_regress_tlv_LDADD = lib/libvitaled-core.la
tests_fuzz_regress_datagroups_SOURCES = tests/fuzz/fuzz-datagroups.c tests/fuzz/regress.c
tests_fuzz_regress_datagroups_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests/unit \
	-DFUZZ_NAME=\"datagroups\"
tests_fuzz_regress_datagroups_LDADD = lib/libvitaled-core.la $(OPENSSL_LIBS)
if FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz-tlv tests/fuzz/fuzz-datagroups
tests_fuzz_fuzz_tlv_SOURCES = tests/fuzz/fuzz-tlv.c
tests_fuzz_fuzz_tlv_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_tlv_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_tlv_LDADD = lib/libvitaled-core.la
tests_fuzz_fuzz_datagroups_SOURCES = tests/fuzz/fuzz-datagroups.c
tests_fuzz_fuzz_datagroups_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_datagroups_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_datagroups_LDADD = lib/libvitaled-core.la $(OPENSSL_LIBS)
endif

# vd_chip_read() through the real pcscd against every virtual chip of tests/emu.
check_PROGRAMS += tests/unit/chip-pcsc
tests_unit_chip_pcsc_SOURCES = tests/unit/chip-pcsc.c
tests_unit_chip_pcsc_CFLAGS = $(AM_CFLAGS) $(PCSC_CFLAGS)
tests_unit_chip_pcsc_LDADD = $(verify_test_ldadd) $(PCSC_LIBS)
TESTS += tests/test-chip-pcsc.py
EXTRA_DIST += tests/test-chip-pcsc.py
