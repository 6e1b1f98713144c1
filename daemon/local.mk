sbin_PROGRAMS += daemon/vitaled
daemon_vitaled_SOURCES = daemon/daemon.h daemon/main.c daemon/loop.c daemon/log.c \
	daemon/config.c daemon/plugin.c daemon/observer.c daemon/reader.c daemon/card.c \
	daemon/token.c daemon/engine.c daemon/audit.c daemon/wipe.c \
	$(builtin_sources)
nodist_daemon_vitaled_SOURCES = daemon/builtin.h
daemon_vitaled_CFLAGS = $(AM_CFLAGS) -DVITALED_PLUGIN_BUILTIN $(builtin_cflags) \
	$(OPENSSL_CFLAGS) $(DBUS_CFLAGS) -I$(top_builddir)/daemon -I$(top_srcdir)/daemon
daemon_vitaled_LDADD = lib/libvitaled-core.la $(builtin_libadd) $(DBUS_LIBS) $(OPENSSL_LIBS) -ldl -lpthread
# External plugins resolve the vitaled_* API from the daemon itself.  Only
# the libraries it calls are loaded: the core library's image decoding
# (libpng, libjpeg, libzbar: vitalectl's) is not the daemon's.
daemon_vitaled_LDFLAGS = $(AM_LDFLAGS) -Wl,--export-dynamic -Wl,--as-needed

BUILT_SOURCES += daemon/builtin.h

# Every [section] and key of vitaled.conf, for the admin.
dist_doc_DATA += doc/configuration.md
CLEANFILES += daemon/builtin.h
daemon/builtin.h: Makefile
	$(AM_V_GEN)$(MKDIR_P) daemon && { \
	  for p in $(builtin_plugins); do \
	    echo "extern const struct vitaled_plugin_desc __vitaled_builtin_$$p;"; done; \
	  echo "static const struct vitaled_plugin_desc *const builtin_plugins[] = {"; \
	  for p in $(builtin_plugins); do echo "	&__vitaled_builtin_$$p,"; done; \
	  echo "	NULL"; echo "};"; } > $@-t && mv $@-t $@

# Unit test: posts from worker threads while the loop stops (every accepted
# post runs once; later ones are refused and stay the poster's).
check_PROGRAMS += tests/unit/test-loop
TESTS += tests/unit/test-loop
tests_unit_test_loop_SOURCES = tests/unit/test-loop.c daemon/loop.c daemon/log.c \
	daemon/wipe.c
tests_unit_test_loop_CFLAGS = $(AM_CFLAGS) $(DBUS_CFLAGS) -I$(top_srcdir)/daemon
tests_unit_test_loop_LDADD = lib/libvitaled-core.la $(DBUS_LIBS) -lpthread

# Unit test: whatever ends a card frees its read, wiped (free wrapped at
# link time; the daemon's own card, reader, observer, loop, config, log).
check_PROGRAMS += tests/unit/test-card
TESTS += tests/unit/test-card
tests_unit_test_card_SOURCES = tests/unit/test-card.c daemon/card.c daemon/reader.c \
	daemon/observer.c daemon/loop.c daemon/config.c daemon/log.c daemon/wipe.c
tests_unit_test_card_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS) $(DBUS_CFLAGS) -I$(top_srcdir)/daemon
tests_unit_test_card_LDFLAGS = $(AM_LDFLAGS) -Wl,--wrap=free
tests_unit_test_card_LDADD = lib/libvitaled-core.la $(DBUS_LIBS) $(OPENSSL_LIBS) -lpthread
