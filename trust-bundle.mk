# fragment: see Makefile.am — signed trust bundles (issue 17): the format is
# lib/bundle.c (lib/verify.mk), the daemon installs them, the builder is
# for issuers and test fixtures.
daemon_vitaled_SOURCES += daemon/trust-install.c

bin_PROGRAMS += tools/vitaled-trust-bundle
tools_vitaled_trust_bundle_SOURCES = tools/trust-bundle.c
tools_vitaled_trust_bundle_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS)
tools_vitaled_trust_bundle_LDADD = lib/libvitaled-core.la $(OPENSSL_LIBS)

# vitalectl trust install
tools_vitalectl_SOURCES += tools/trust-install.c

# Tests: tests/test-trust-bundle.py (the real daemon, pcscd and card
# emulator; tests/trust/crash-at.c kills it at every step of an install).
check_LTLIBRARIES += tests/trust/crash-at.la
tests_trust_crash_at_la_SOURCES = tests/trust/crash-at.c
tests_trust_crash_at_la_CFLAGS = $(AM_CFLAGS) -Wno-missing-prototypes -D_GNU_SOURCE
tests_trust_crash_at_la_LIBADD = -ldl
tests_trust_crash_at_la_LDFLAGS = -module -avoid-version -shared -rpath /nowhere
TESTS += tests/test-trust-bundle.py
EXTRA_DIST += tests/test-trust-bundle.py tests/lib/vtest/bundle.py

# Fuzzing (conventions of lib/codec.mk): corpus replay in make check, a
# libFuzzer binary with --enable-fuzzing.
FUZZ_TARGETS += bundle
EXTRA_DIST += tests/fuzz/corpus/bundle
check_PROGRAMS += tests/fuzz/regress-bundle
TESTS += tests/fuzz/regress-bundle
tests_fuzz_regress_bundle_SOURCES = tests/fuzz/fuzz-bundle.c tests/fuzz/regress.c
tests_fuzz_regress_bundle_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests/unit \
	-DFUZZ_NAME=\"bundle\"
tests_fuzz_regress_bundle_LDADD = lib/libvitaled-core.la $(OPENSSL_LIBS)
if FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz-bundle
tests_fuzz_fuzz_bundle_SOURCES = tests/fuzz/fuzz-bundle.c
tests_fuzz_fuzz_bundle_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_bundle_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_bundle_LDADD = lib/libvitaled-core.la $(OPENSSL_LIBS)
endif

# lib/bundle.c on its own: build, read back, every refusal.
check_PROGRAMS += tests/unit/test-bundle
TESTS += tests/unit/test-bundle
tests_unit_test_bundle_SOURCES = tests/unit/test-bundle.c
tests_unit_test_bundle_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS)
tests_unit_test_bundle_LDADD = lib/libvitaled-core.la $(OPENSSL_LIBS)
