# PC/SC source plugin (issue 5): readers through pcscd, contact cards and
# phones over NFC.
builtin_plugins += pcsc
builtin_sources += plugins/plugins.h plugins/pcsc.c plugins/pcsc-monitor.c \
	plugins/pcsc-worker.c plugins/pcsc-name.c
builtin_cflags += $(PCSC_CFLAGS)
builtin_libadd += $(PCSC_LIBS)

# Reader identity and kind, unit-tested on their own.
check_PROGRAMS += tests/unit/test-pcsc-name
tests_unit_test_pcsc_name_SOURCES = tests/unit/test-pcsc-name.c plugins/pcsc-name.c
TESTS += tests/unit/test-pcsc-name

# Integration tests: private pcscd + vpcd + emulators + vitaled.
TESTS += tests/test-pcsc.py
EXTRA_DIST += tests/test-pcsc.py tests/lib/vtest/cardrig.py
