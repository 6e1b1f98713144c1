# fragment: see Makefile.am
# QR token codec and verification (base45, zlib, CBOR, COSE, replay cache).
lib_libvitaled_core_la_SOURCES += lib/base45.c lib/inflate.c lib/cbor.c \
	lib/cose.c lib/envelope.c lib/hcert.c lib/token.c lib/replay.c
lib_libvitaled_core_la_LIBADD += -lm $(PTHREAD_LIBS)

# vitalectl token verify
tools_vitalectl_SOURCES += tools/token.c

# EU DCC test vectors through vitalectl and the single steps.
check_PROGRAMS += tests/unit/dgc-step
tests_unit_dgc_step_SOURCES = tests/unit/dgc-step.c
tests_unit_dgc_step_LDADD = lib/libvitaled-core.la
TESTS += tests/test-dgc.py
EXTRA_DIST += tests/test-dgc.py

# Token verdicts with the test PKI and tests/tokens/mktoken.py.
check_PROGRAMS += tests/unit/token-check
tests_unit_token_check_SOURCES = tests/unit/token-check.c
tests_unit_token_check_LDADD = lib/libvitaled-core.la
TESTS += tests/test-token.py
EXTRA_DIST += tests/test-token.py

# C unit tests of the codec.
codec_unit_tests = tests/unit/test-base45 tests/unit/test-inflate tests/unit/test-cbor \
	tests/unit/test-cose tests/unit/test-replay
check_PROGRAMS += $(codec_unit_tests)
TESTS += $(codec_unit_tests)
tests_unit_test_base45_LDADD = lib/libvitaled-core.la
tests_unit_test_inflate_LDADD = lib/libvitaled-core.la $(ZLIB_LIBS)
tests_unit_test_cbor_LDADD = lib/libvitaled-core.la
tests_unit_test_cose_LDADD = lib/libvitaled-core.la $(OPENSSL_LIBS)
tests_unit_test_replay_LDADD = lib/libvitaled-core.la
