# fragment: see Makefile.am
# System integration: systemd unit and sysusers, D-Bus activation, udev
# rules and hwdb, polkit rule, example configuration, man pages.
# Every path comes from configure or from $(prefix)-relative variables, and
# every install goes through $(DESTDIR).

daemon_vitaled_SOURCES += daemon/notify.c

# The unit names the daemon by its configured path.
systemdsystemunit_DATA = systemd/vitaled.service
CLEANFILES += systemd/vitaled.service
EXTRA_DIST += systemd/vitaled.service.in
systemd/vitaled.service: $(top_srcdir)/systemd/vitaled.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) systemd && \
	sed -e 's|@sbindir[@]|$(sbindir)|g' $(top_srcdir)/systemd/vitaled.service.in > $@-t && \
	mv $@-t $@

# vitaled-trust-update's unit and its daily timer (issue 17).
systemdsystemunit_DATA += systemd/vitaled-trust-update.service systemd/vitaled-trust-update.timer
CLEANFILES += systemd/vitaled-trust-update.service
EXTRA_DIST += systemd/vitaled-trust-update.service.in systemd/vitaled-trust-update.timer
systemd/vitaled-trust-update.service: $(top_srcdir)/systemd/vitaled-trust-update.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) systemd && \
	sed -e 's|@updaterdir[@]|$(updaterdir)|g' -e 's|@localstatedir[@]|$(localstatedir)|g' \
		$(top_srcdir)/systemd/vitaled-trust-update.service.in > $@-t && \
	mv $@-t $@

# tmpfiles.d: the trust bundle drop directory (doc/admin.md).
tmpfilesdir = $(prefix)/lib/tmpfiles.d
tmpfiles_DATA = systemd/tmpfiles.d/vitaled.conf
CLEANFILES += systemd/tmpfiles.d/vitaled.conf
EXTRA_DIST += systemd/vitaled.tmpfiles
systemd/tmpfiles.d/vitaled.conf: $(top_srcdir)/systemd/vitaled.tmpfiles
	$(AM_V_GEN)$(MKDIR_P) systemd/tmpfiles.d && cp $(top_srcdir)/systemd/vitaled.tmpfiles $@

# sysusers.d wants <package>.conf.
sysusersdir = $(prefix)/lib/sysusers.d
sysusers_DATA = systemd/sysusers.d/vitaled.conf
CLEANFILES += systemd/sysusers.d/vitaled.conf
EXTRA_DIST += systemd/vitaled.sysusers
systemd/sysusers.d/vitaled.conf: $(top_srcdir)/systemd/vitaled.sysusers
	$(AM_V_GEN)$(MKDIR_P) systemd/sysusers.d && cp $(top_srcdir)/systemd/vitaled.sysusers $@

dbussystemservicedir = $(datadir)/dbus-1/system-services
dist_dbussystemservice_DATA = dbus/org.vitaled.service

dist_udevrules_DATA = udev/70-vitaled.rules
udevhwdbdir = $(udevrulesdir)/../hwdb.d
dist_udevhwdb_DATA = udev/70-vitaled.hwdb

polkitrulesdir = $(datadir)/polkit-1/rules.d
dist_polkitrules_DATA = polkit/70-vitaled-pcscd.rules

# Every key commented out at its default: a conffile the admin edits.
vitaledconfdir = $(sysconfdir)/vitaled
vitaledconf_DATA = etc/vitaled.conf
CLEANFILES += etc/vitaled.conf
EXTRA_DIST += etc/vitaled.conf.in
etc/vitaled.conf: $(top_srcdir)/etc/vitaled.conf.in Makefile
	$(AM_V_GEN)$(MKDIR_P) etc && \
	sed -e 's|@localstatedir[@]|$(localstatedir)|g' -e 's|@sysconfdir[@]|$(sysconfdir)|g' \
		$(top_srcdir)/etc/vitaled.conf.in > $@-t && mv $@-t $@

dist_man_MANS += doc/vitaled.8 doc/vitaled.conf.5 doc/vitalectl.1 doc/vitaled-trust-update.8
dist_doc_DATA += doc/admin.md

# Where admins put drop-ins and trust material.
install-data-local: install-vitaled-dirs
install-vitaled-dirs:
	$(MKDIR_P) $(DESTDIR)$(vitaledconfdir)/vitaled.conf.d $(DESTDIR)$(vitaledconfdir)/trust.d
uninstall-local: uninstall-vitaled-dirs
uninstall-vitaled-dirs:
	-rmdir $(DESTDIR)$(vitaledconfdir)/vitaled.conf.d $(DESTDIR)$(vitaledconfdir)/trust.d
.PHONY: install-vitaled-dirs uninstall-vitaled-dirs

# distcheck installs as a user into a scratch prefix: the system
# directories whose defaults are absolute must follow it there.
AM_DISTCHECK_CONFIGURE_FLAGS = \
	--with-systemdsystemunitdir=$${dc_install_base}/lib/systemd/system \
	--with-udevrulesdir=$${dc_install_base}/lib/udev/rules.d \
	--with-dbuspolicydir=$${dc_install_base}/share/dbus-1/system.d


TESTS += tests/test-system.py tests/test-notify.py
EXTRA_DIST += tests/test-system.py tests/test-notify.py tests/test-deb.sh tests/system/org.debian.pcsc-lite.policy \
	tests/system/hidpos.umockdev tests/system/serial.umockdev \
	tests/system/wedge.umockdev tests/system/camera.umockdev \
	tests/system/other.umockdev tests/system/uinput.umockdev
# Run by scripts/check.sh as root, not by make check (both build the package).
EXTRA_DIST += tests/lib/tap.sh tests/lib/deb.sh tests/system/test-unit-container.sh \
	tests/system/unit-rootfs.sh tests/system/test-pcscd-polkit.sh scripts/ci-rootfs.sh \
	tests/system/trust-update-rig.sh
