# fragment: see Makefile.am — org.vitaled through the client libraries
# vendors use (issue 22): GDBus, sd-bus, dbus-next; doc/examples/ runs here.

TESTS += tests/test-dbus-interop.py
EXTRA_DIST += tests/test-dbus-interop.py tests/lib/vtest/advertised.py

# The vendors' examples, run by the test: the sd-bus one is built as a
# vendor would build it (no config.h, only libsystemd's flags).
EXTRA_DIST += doc/examples/vitaled-gdbus.py doc/examples/vitaled-sdbus.c \
	doc/examples/vitaled-dbus-next.js
if HAVE_LIBSYSTEMD
check_PROGRAMS += doc/examples/vitaled-sdbus
doc_examples_vitaled_sdbus_SOURCES = doc/examples/vitaled-sdbus.c
doc_examples_vitaled_sdbus_CPPFLAGS = $(LIBSYSTEMD_CFLAGS)
doc_examples_vitaled_sdbus_LDADD = $(LIBSYSTEMD_LIBS)
endif
