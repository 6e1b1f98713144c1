# The browser side of the web bridge (issue 16): the WebExtension, built
# from one source for Chromium and Firefox, and vitaled.js with its demo
# page.  The host (bridge/) is another fragment.
#
# The two manifests differ only where the browsers do: Chromium's extension
# runs as a service worker and takes its ID from "key" (the project's public
# key, fixed: the host's manifest names that ID); Firefox's runs as an event
# page and takes its ID from browser_specific_settings.
web_ext_sources = web/extension/background.js web/extension/content.js \
	web/extension/popup.html web/extension/popup.js
web_ext_key = MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAwRFmppNmQOgas/ZAJjJ2z3uqvqNKOJa+n0KzsXhEctA66O+ZZdyms3+2l2rg14tPQLNY3PljChoGTptyj86u02UiIE2D+kV2c288rmJNB5BvppusNJHfGnZ/Vj8n5JpkxwQKaWFIaSt/t5OzvA7dQXnzhwjBdXXoaJCErClT4/7slIarwXVn0ZktaV60OsYtwO/Owjag5deGnMo+4MsmxKKCQFjhepVAy/eNKBrprhrxeZo12aEMhXsTzKnJeoPygYevyOXuzfamkUyOM/9l4IiTA73gBV4vF3ot057cLHjACsYscdfTgHfpfs0PkL8tLyDGLt1fN9Fy1Vpm/CkXZQIDAQAB
web_ext_gecko_id = web-bridge@vitaled.org
web_ext_browsers = chromium firefox
web_ext_identity_chromium = "key": "$(web_ext_key)", "minimum_chrome_version": "116",
web_ext_background_chromium = { "service_worker": "background.js" }
web_ext_identity_firefox = "browser_specific_settings": { "gecko": { "id": "$(web_ext_gecko_id)", "strict_min_version": "128.0" } },
web_ext_background_firefox = { "scripts": ["background.js"] }

# web/extension/BROWSER/: the unpacked extension, as loaded by the tests and
# installed for administrators.
web/extension/%/manifest.json: $(top_srcdir)/web/extension/manifest.json.in \
		$(addprefix $(top_srcdir)/,$(web_ext_sources)) $(top_srcdir)/web/web.mk
	$(AM_V_GEN)$(MKDIR_P) $(@D) && \
	sed -e 's|%VERSION%|$(PACKAGE_VERSION)|' \
	    -e 's|%IDENTITY%|$(web_ext_identity_$*)|' \
	    -e 's|%BACKGROUND%|$(web_ext_background_$*)|' $< > $@.tmp && \
	for f in $(web_ext_sources); do cp $(top_srcdir)/$$f $(@D)/ || exit 1; done && \
	mv $@.tmp $@

web_ext_built = $(foreach b,$(web_ext_browsers),web/extension/$(b)/manifest.json)
noinst_DATA = $(web_ext_built)
CLEANFILES += $(web_ext_built) $(foreach b,$(web_ext_browsers),$(addprefix web/extension/$(b)/,$(notdir $(web_ext_sources))))
EXTRA_DIST += web/web.mk web/extension/manifest.json.in $(web_ext_sources) doc/web-reception.png

# Installed for offline deployment (doc/web.md, "Deploying the extension").
webextdir = $(datadir)/vitaled/web-extension
install-data-local: install-web-extension
install-web-extension: $(web_ext_built)
	for b in $(web_ext_browsers); do \
		$(MKDIR_P) "$(DESTDIR)$(webextdir)/$$b" && \
		$(INSTALL_DATA) web/extension/$$b/manifest.json $(addprefix web/extension/$$b/,$(notdir $(web_ext_sources))) \
			"$(DESTDIR)$(webextdir)/$$b/" || exit 1; \
	done
uninstall-local: uninstall-web-extension
uninstall-web-extension:
	for b in $(web_ext_browsers); do \
		rm -f "$(DESTDIR)$(webextdir)/$$b/manifest.json" $(addprefix "$(DESTDIR)$(webextdir)/$$b/",$(notdir $(web_ext_sources))); \
	done
.PHONY: install-web-extension uninstall-web-extension

# vitaled.js for vendors, and the demo reception page that uses it.
webjsdir = $(datadir)/vitaled/web
dist_webjs_DATA = web/vitaled.js
webdemodir = $(webjsdir)/demo
dist_webdemo_DATA = web/demo/index.html web/demo/demo.js web/demo/demo.css

# End to end in real browsers (tests/test-web.py; browsers from scripts/deps.sh).
TESTS += tests/test-web.py
EXTRA_DIST += tests/test-web.py tests/lib/vtest/browser.py tests/lib/vtest/webrig.py tests/web/probe.html \
	tests/web/probe.js tests/web/frame.html
CLEANFILES += tests/web-reception.png tests/web-reception-firefox.png
EXTRA_DIST += bench/bench-browser.py
