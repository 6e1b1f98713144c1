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
