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
