# fragment: see Makefile.am — the D-Bus service org.vitaled (issue 6)

daemon_vitaled_SOURCES += daemon/dbus-service.c daemon/dbus-loop.c daemon/dbus-access.c \
	daemon/dbus-error.c daemon/dbus-data.c
nodist_daemon_vitaled_SOURCES += daemon/dbus-introspect.h
EXTRA_DIST += include/vitaled/dbus.h

# The introspection XML is the source of truth: the daemon serves the
# <interface> elements of these files verbatim (compiled in as strings).
dbus_interface_xml = dbus/org.vitaled.Manager1.xml dbus/org.vitaled.Reader1.xml \
	dbus/org.vitaled.Card1.xml

dbusinterfacesdir = $(datadir)/dbus-1/interfaces
dist_dbusinterfaces_DATA = $(dbus_interface_xml)
dist_dbuspolicy_DATA = dbus/org.vitaled.conf
dist_doc_DATA += doc/dbus-api.md

BUILT_SOURCES += daemon/dbus-introspect.h
CLEANFILES += daemon/dbus-introspect.h
daemon/dbus-introspect.h: $(dbus_interface_xml)
	$(AM_V_GEN)$(MKDIR_P) daemon && { \
	  echo "/* Generated from the dbus/ XML files by daemon/dbus.mk: do not edit. */"; \
	  for f in $(dbus_interface_xml); do \
	    n=`basename $$f .xml | sed 's/\./_/g'`; \
	    echo "#define INTROSPECT_$$n \\"; \
	    sed -n '/<interface /,/<\/interface>/{s/\\/\\\\/g;s/"/\\"/g;s/^/	"/;s/$$/\\n" \\/;p;}' \
	      $(srcdir)/$$f; \
	    echo "	\"\""; \
	  done; } > $@-t && mv $@-t $@
# Also when building just the daemon (BUILT_SOURCES only covers all/check).
daemon/vitaled-dbus-service.$(OBJEXT): daemon/dbus-introspect.h

# Unit test: dates, dictionaries read back from real messages, release rules.
check_PROGRAMS += tests/unit/test-dbus-data
TESTS += tests/unit/test-dbus-data
tests_unit_test_dbus_data_SOURCES = tests/unit/test-dbus-data.c daemon/dbus-data.c \
	daemon/dbus-error.c daemon/log.c
tests_unit_test_dbus_data_CFLAGS = $(AM_CFLAGS) $(DBUS_CFLAGS) -I$(top_srcdir)/daemon
tests_unit_test_dbus_data_LDADD = lib/libvitaled-core.la $(DBUS_LIBS) $(OPENSSL_LIBS)

# Tests (real private bus with our policy, real pcscd and virtual cards).
TESTS += tests/test-dbus.py tests/test-dbus-robust.py tests/test-memory-wipe.py
EXTRA_DIST += tests/test-dbus.py tests/test-dbus-robust.py tests/test-memory-wipe.py tests/lib/vtest/bus.py tests/lib/vtest/family.py \
	tests/lib/vtest/eavesdrop.py doc/examples/vitaled-client.py doc/examples/busctl.sh

# Benchmark (issue 6): round trips and insertion -> client sees "verified",
# as ratios against floors measured in the same run.  Needs root.
EXTRA_DIST += bench/bench-dbus.py
bench-dbus: daemon/vitaled
	top_srcdir='$(abs_top_srcdir)' top_builddir='$(abs_top_builddir)' \
		$(PYTHON3) $(top_srcdir)/bench/bench-dbus.py $(BENCH_INSERTIONS)
.PHONY: bench-dbus
