# The browser bridge (issue 16): the native-messaging host and its manifests.
pkglibexec_PROGRAMS = bridge/vitaled-web-bridge
bridge_vitaled_web_bridge_SOURCES = bridge/bridge.h bridge/main.c bridge/log.c \
	bridge/frame.c bridge/origin.c bridge/protocol.c bridge/vitaled.c
bridge_vitaled_web_bridge_CFLAGS = $(AM_CFLAGS) $(DBUS_CFLAGS) $(JSONC_CFLAGS) \
	-DLOCALEDIR=\"$(localedir)\"
bridge_vitaled_web_bridge_LDADD = $(DBUS_LIBS) $(JSONC_LIBS)

# Native-messaging manifests, with the installed host's path.  Chromium and
# Chrome read /etc (Debian: /etc/chromium, Google's /etc/opt/chrome);
# Firefox reads /usr/lib/mozilla whatever the multiarch libdir.
chromiumhostdir = $(sysconfdir)/chromium/native-messaging-hosts
chromiumhost_DATA = bridge/chromium/org.vitaled.web_bridge.json
chromehostdir = $(sysconfdir)/opt/chrome/native-messaging-hosts
chromehost_DATA = bridge/chromium/org.vitaled.web_bridge.json
mozillahostdir = $(prefix)/lib/mozilla/native-messaging-hosts
mozillahost_DATA = bridge/firefox/org.vitaled.web_bridge.json

bridge/chromium/org.vitaled.web_bridge.json: $(srcdir)/bridge/host-chromium.json.in Makefile
	$(AM_V_GEN)mkdir -p bridge/chromium && \
		sed 's|@HOST_PATH@|$(pkglibexecdir)/vitaled-web-bridge|' $< > $@.tmp && mv $@.tmp $@
bridge/firefox/org.vitaled.web_bridge.json: $(srcdir)/bridge/host-firefox.json.in Makefile
	$(AM_V_GEN)mkdir -p bridge/firefox && \
		sed 's|@HOST_PATH@|$(pkglibexecdir)/vitaled-web-bridge|' $< > $@.tmp && mv $@.tmp $@
CLEANFILES += bridge/chromium/org.vitaled.web_bridge.json bridge/firefox/org.vitaled.web_bridge.json
EXTRA_DIST += bridge/host-chromium.json.in bridge/host-firefox.json.in

TESTS += tests/test-web-bridge.py
EXTRA_DIST += tests/test-web-bridge.py

dist_man_MANS += doc/vitaled-web-bridge.8
dist_doc_DATA += doc/web.md

# Where admins list the allowed origins; empty: nothing allowed.
install-data-local: install-web-dirs
install-web-dirs:
	$(MKDIR_P) $(DESTDIR)$(sysconfdir)/vitaled/web.d
uninstall-local: uninstall-web-dirs
uninstall-web-dirs:
	-rmdir $(DESTDIR)$(sysconfdir)/vitaled/web.d
.PHONY: install-web-dirs uninstall-web-dirs
