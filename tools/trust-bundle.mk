# fragment: see Makefile.am — signed trust bundles (issue 17): the builder
# for issuers and test fixtures.
bin_PROGRAMS += tools/vitaled-trust-bundle
tools_vitaled_trust_bundle_SOURCES = tools/trust-bundle.c
tools_vitaled_trust_bundle_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS)
tools_vitaled_trust_bundle_LDADD = lib/libvitaled-core.la $(OPENSSL_LIBS)
