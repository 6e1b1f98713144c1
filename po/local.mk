# fragment: see Makefile.am — the translations as vitalectl finds them in
# the build tree (issue 21).  gettext's po/Makefile installs them; the tests
# run the uninstalled vitalectl with VITALECTL_LOCALEDIR=$(top_builddir)/locale
# (HACKING.md).
po_languages = $(shell sed 's/\#.*//' $(top_srcdir)/po/LINGUAS)
build_catalogs = $(po_languages:%=locale/%/LC_MESSAGES/$(PACKAGE).mo)
check_DATA += $(build_catalogs)
CLEANFILES += $(build_catalogs)

locale/%/LC_MESSAGES/$(PACKAGE).mo: $(top_srcdir)/po/%.po
	$(AM_V_GEN)$(MKDIR_P) $(@D) && $(MSGFMT) --check -o $@ $<

# vitalectl in French against the real daemon, and the catalogue's checks
TESTS += tests/test-vitalectl-i18n.py
EXTRA_DIST += tests/test-vitalectl-i18n.py

# The admin guide in French, kept in step with doc/admin.md
docfrdir = $(docdir)/fr
dist_docfr_DATA = doc/fr/admin.md
TESTS += tests/test-doc-fr.py
EXTRA_DIST += tests/test-doc-fr.py
