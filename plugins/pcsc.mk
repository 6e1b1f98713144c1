# PC/SC source plugin (issue 5): readers through pcscd, contact cards and
# phones over NFC.
builtin_plugins += pcsc
builtin_sources += plugins/plugins.h plugins/pcsc.c plugins/pcsc-monitor.c \
	plugins/pcsc-worker.c plugins/pcsc-name.c plugins/pcsc-counter.c
builtin_cflags += $(PCSC_CFLAGS)
builtin_libadd += $(PCSC_LIBS)

# Reader identity and kind, and the event counter, unit-tested on their own.
check_PROGRAMS += tests/unit/test-pcsc-name
tests_unit_test_pcsc_name_SOURCES = tests/unit/test-pcsc-name.c plugins/pcsc-name.c \
	plugins/pcsc-counter.c
TESTS += tests/unit/test-pcsc-name

# Integration tests: private pcscd + vpcd + emulators + vitaled.
# test-pcsc-leak.py needs a sanitizer build or valgrind (else it skips).
TESTS += tests/test-pcsc.py tests/test-pcsc-faults.py tests/test-pcsc-leak.py
EXTRA_DIST += tests/test-pcsc.py tests/test-pcsc-faults.py tests/test-pcsc-leak.py \
	tests/lib/vtest/cardrig.py tests/pcsc/cycler.py

# The trust directory replaced by a new PKI with the same names (issue 23).
TESTS += tests/test-trust-replace.py
EXTRA_DIST += tests/test-trust-replace.py

# Sharing the reader with another PC/SC application (a pyscard client).
TESTS += tests/test-pcsc-shared.py
EXTRA_DIST += tests/test-pcsc-shared.py tests/pcsc/other-app.py

# Fault injection for test-pcsc-faults.py: a real reset by another
# application right before the daemon's transaction.
check_LTLIBRARIES += tests/pcsc/reset-inject.la
tests_pcsc_reset_inject_la_SOURCES = tests/pcsc/reset-inject.c
tests_pcsc_reset_inject_la_CFLAGS = $(AM_CFLAGS) $(PCSC_CFLAGS)
tests_pcsc_reset_inject_la_LIBADD = $(PCSC_LIBS) -ldl
tests_pcsc_reset_inject_la_LDFLAGS = -module -avoid-version -shared -rpath /nowhere

# Reader hot-plug through the real pcscd (tests/test-pcsc-hotplug.py): a
# test IFD handler pcscd loads for a fake USB reader (umockdev).
TESTS += tests/test-pcsc-hotplug.py
EXTRA_DIST += tests/test-pcsc-hotplug.py tests/pcsc/usb-bed.py
check_LTLIBRARIES += tests/pcsc/ifd-hotplug.la
tests_pcsc_ifd_hotplug_la_SOURCES = tests/pcsc/ifd-hotplug.c
# loaded by pcscd, which has no sanitizer runtime: no sanitizer flags
tests_pcsc_ifd_hotplug_la_CFLAGS = $(WARN_CFLAGS) -fvisibility=hidden $(PCSC_CFLAGS)
tests_pcsc_ifd_hotplug_la_LIBADD = -lpthread
tests_pcsc_ifd_hotplug_la_LDFLAGS = -module -avoid-version -shared -rpath /nowhere

# bench/bench-card.py (run by bench/run): card read vs the APDU replay floor.
noinst_PROGRAMS += bench/bench-card-floor
bench_bench_card_floor_SOURCES = bench/bench-card-floor.c
bench_bench_card_floor_CFLAGS = $(AM_CFLAGS) $(PCSC_CFLAGS) $(OPENSSL_CFLAGS)
bench_bench_card_floor_LDADD = $(PCSC_LIBS) $(OPENSSL_LIBS)
EXTRA_DIST += bench/bench-card.py

dist_doc_DATA += doc/pcsc.md
