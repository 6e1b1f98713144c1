# fragment: see Makefile.am — vitaled-trust-update (issue 17): fetches the
# trust bundle over HTTPS for the daemon; run by its systemd timer.
updaterdir = $(libexecdir)/vitaled
updater_PROGRAMS = tools/vitaled-trust-update
tools_vitaled_trust_update_SOURCES = tools/trust-update.c
tools_vitaled_trust_update_CFLAGS = $(AM_CFLAGS) $(CURL_CFLAGS) $(DBUS_CFLAGS) $(OPENSSL_CFLAGS) \
	-DUPDATESTATEDIR=\"$(localstatedir)/lib/vitaled-trust-update\" -DLOCALEDIR=\"$(localedir)\"
tools_vitaled_trust_update_LDADD = lib/libvitaled-core.la $(CURL_LIBS) $(DBUS_LIBS) $(OPENSSL_LIBS)

# The real program against a real HTTPS server in the test's own network.
TESTS += tests/test-trust-update.py
EXTRA_DIST += tests/test-trust-update.py
