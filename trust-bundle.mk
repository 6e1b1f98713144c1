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
EXTRA_DIST += tests/test-trust-bundle.py
