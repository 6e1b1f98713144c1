#!/bin/bash
# Builds the Debian package from the source tree, installs it with dpkg on
# this machine, checks what it put there (files, user, groups, unit), then
# removes and purges it and checks that nothing is left.  Prints TAP.
#
# Needs root and the build dependencies (debian/control); takes a few
# minutes.  Safe to run again: a vitaled package left installed by an
# earlier run is purged first, and the package is purged on exit whatever
# happens.  Usage: tests/test-deb.sh [SRCDIR]   (default: this script's tree)
set -u

srcdir=$(cd "${1:-${top_srcdir:-$(dirname "$0")/..}}" && pwd)
. "$srcdir/tests/lib/tap.sh"
. "$srcdir/tests/lib/deb.sh"

if [ "$(id -u)" -ne 0 ]; then
	echo "1..0 # SKIP installing a package needs root"
	exit 0
fi
for tool in dpkg-buildpackage dpkg dh; do
	if ! command -v "$tool" > /dev/null; then
		echo "1..0 # SKIP $tool not installed (apt-get install dpkg-dev debhelper)"
		exit 0
	fi
done

work=$(mktemp -d /tmp/vitaled-deb.XXXXXX)
purge_package() {
	if dpkg-query -W -f '${Status}' vitaled 2> /dev/null | grep -qv 'not-installed'; then
		dpkg --purge vitaled > "$work/purge-cleanup.log" 2>&1 || true
	fi
}
cleanup() {
	purge_package
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A package from an earlier, interrupted run would hide what this one does.
purge_package

deb_build "$srcdir" "$work"
ok $? "dpkg-buildpackage -us -uc -b builds $(basename "$deb")" "$work/build.log"
[ -f "$deb" ] || finish

if command -v lintian > /dev/null; then
	lintian --fail-on error "$deb" > "$work/lintian.log" 2>&1
	ok $? "lintian reports no error" "$work/lintian.log"
	grep -E '^[WI]: ' "$work/lintian.log" | sed 's/^/# lintian: /'
else
	echo "# lintian not installed: package not linted"
fi

# Another test (the D-Bus harness) may have made the user already; then
# its home is not ours to check.
user_existed=no
getent passwd vitaled > /dev/null && user_existed=yes

dpkg -i "$deb" > "$work/install.log" 2>&1
ok $? "dpkg -i installs it" "$work/install.log"

# ---- files -----------------------------------------------------------------
# Where this release wants units and udev files (Debian 12: /lib/...; 13,
# merged /usr: /usr/lib/..., and dpkg must know them by that name).
unitdir=$(pkg-config --variable=systemdsystemunitdir systemd)
udevdir=$(pkg-config --variable=udevdir udev)
echo "# this release's unit directory: ${unitdir:-?}, udev directory: ${udevdir:-?}"
[ -n "$unitdir" ] && [ -n "$udevdir" ]
ok $? "systemd.pc and udev.pc name the unit and udev directories"
unit=$unitdir/vitaled.service
rules=$udevdir/rules.d/70-vitaled.rules
missing=""
for f in /usr/sbin/vitaled /usr/bin/vitalectl "$unit" \
	/usr/lib/sysusers.d/vitaled.conf /usr/lib/tmpfiles.d/vitaled.conf \
	/usr/bin/vitaled-trust-bundle \
	/usr/libexec/vitaled/vitaled-trust-update \
	"$unitdir/vitaled-trust-update.service" "$unitdir/vitaled-trust-update.timer" \
	/usr/share/man/man8/vitaled-trust-update.8.gz \
	/usr/share/dbus-1/system-services/org.vitaled.service \
	"$rules" "$udevdir/hwdb.d/70-vitaled.hwdb" \
	/usr/share/polkit-1/rules.d/70-vitaled-pcscd.rules \
	/etc/vitaled/vitaled.conf /etc/vitaled/vitaled.conf.d /etc/vitaled/trust.d \
	/usr/share/man/man8/vitaled.8.gz /usr/share/man/man5/vitaled.conf.5.gz \
	/usr/share/man/man1/vitalectl.1.gz \
	/usr/libexec/vitaled/vitaled-web-bridge /etc/vitaled/web.d \
	/usr/share/man/man8/vitaled-web-bridge.8.gz \
	/etc/chromium/native-messaging-hosts/org.vitaled.web_bridge.json \
	/etc/opt/chrome/native-messaging-hosts/org.vitaled.web_bridge.json \
	/usr/lib/mozilla/native-messaging-hosts/org.vitaled.web_bridge.json \
	/usr/share/locale/fr/LC_MESSAGES/vitaled.mo; do
	[ -e "$f" ] && dpkg -S "$f" > /dev/null 2>&1 || missing="$missing $f"
done
if [ -f "$srcdir/dbus/org.vitaled.conf" ]; then
	f=/usr/share/dbus-1/system.d/org.vitaled.conf
	[ -e "$f" ] || missing="$missing $f"
fi
echo "missing:$missing" > "$work/files.log"
[ -z "$missing" ]
ok $? "the package owns every system file, where Debian expects it" "$work/files.log"

dpkg-query -W -f '${Conffiles}\n' vitaled > "$work/conffiles.log" 2>&1
grep -q ' /etc/vitaled/vitaled.conf ' "$work/conffiles.log"
ok $? "/etc/vitaled/vitaled.conf is a conffile" "$work/conffiles.log"

# The browser extension, unpacked for offline deployment (doc/web.md), with
# each browser's identity: Chromium's public key, Firefox's gecko id.
ext=/usr/share/vitaled/web-extension
{
	for b in chromium firefox; do
		for f in manifest.json background.js content.js popup.html popup.js; do
			dpkg -S "$ext/$b/$f" || echo "missing: $ext/$b/$f"
		done
	done
	dpkg -S /usr/share/vitaled/web/vitaled.js /usr/share/vitaled/web/demo/index.html
	grep -q '"key": "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAwRFmpp' "$ext/chromium/manifest.json" &&
		grep -q '"service_worker"' "$ext/chromium/manifest.json" &&
		grep -q '"id": "web-bridge@vitaled.org"' "$ext/firefox/manifest.json" &&
		! grep -q '"key"' "$ext/firefox/manifest.json" || echo "wrong manifests"
} > "$work/webext.log" 2>&1
! grep -q "missing\|no path found\|wrong" "$work/webext.log"
ok $? "the package ships the browser extension for Chromium and Firefox, and vitaled.js" \
	"$work/webext.log"

check "the installed daemon prints its version" /usr/sbin/vitaled --version

# The browsers start the host named by its manifests' absolute path.
for m in /etc/chromium/native-messaging-hosts/org.vitaled.web_bridge.json \
	/etc/opt/chrome/native-messaging-hosts/org.vitaled.web_bridge.json \
	/usr/lib/mozilla/native-messaging-hosts/org.vitaled.web_bridge.json; do
	host=$(sed -n 's/^ *"path": "\(.*\)",$/\1/p' "$m" 2> /dev/null)
	echo "$m: path $host" > "$work/manifest.log"
	[ "$host" = /usr/libexec/vitaled/vitaled-web-bridge ] && "$host" --version \
		>> "$work/manifest.log" 2>&1
	ok $? "$m names the installed host" "$work/manifest.log"
done
[ -z "$(ls -A /etc/vitaled/web.d)" ]
ok $? "no web origin is allowed after install (/etc/vitaled/web.d empty)"

# the installed catalogue, found where bindtextdomain looks (issue 21)
env LANG=fr_FR.UTF-8 LC_ALL= LANGUAGE= /usr/bin/vitalectl --help > "$work/fr.log" 2>&1
grep -q '^Utilisation : vitalectl' "$work/fr.log"
ok $? "the installed vitalectl speaks French under LANG=fr_FR.UTF-8" "$work/fr.log"
env LANG=fr_FR.UTF-8 LC_ALL= LANGUAGE= /usr/libexec/vitaled/vitaled-web-bridge --help \
	> "$work/fr-bridge.log" 2>&1
grep -q '^Utilisation : vitaled-web-bridge' "$work/fr-bridge.log"
ok $? "the installed web bridge's --help is French under LANG=fr_FR.UTF-8" "$work/fr-bridge.log"
env LANG=fr_FR.UTF-8 LC_ALL= LANGUAGE= /usr/libexec/vitaled/vitaled-trust-update --help \
	> "$work/fr-update.log" 2>&1
grep -q '^Utilisation : vitaled-trust-update' "$work/fr-update.log"
ok $? "the installed trust updater's --help is French under LANG=fr_FR.UTF-8" "$work/fr-update.log"
# dh_compress may have compressed it
check "the French admin guide is installed" sh -c 'ls /usr/share/doc/vitaled/fr/admin.md*'
check "the configuration reference is installed" sh -c 'ls /usr/share/doc/vitaled/configuration.md*'
check "the installed configuration is valid, read as user vitaled" \
	setpriv --reuid=vitaled --regid=vitaled --init-groups \
	/usr/sbin/vitaled --check-config

# ---- user and groups --------------------------------------------------------
getent passwd vitaled > "$work/passwd.log" 2>&1
IFS=: read -r _ _ uid _ _ home shell < "$work/passwd.log"
[ -n "${uid:-}" ] && [ "$uid" -lt 1000 ] &&
	case "$shell" in */nologin|/bin/false) true ;; *) false ;; esac
ok $? "system user vitaled, no login shell" "$work/passwd.log"
if [ "$user_existed" = no ]; then
	[ "$home" = /var/lib/vitaled ]
	ok $? "the package made user vitaled with home /var/lib/vitaled" "$work/passwd.log"
else
	echo "# user vitaled existed before the install (home $home): kept as it was"
fi
check "group vitaled exists" getent group vitaled
check "group vitaled-clients exists" getent group vitaled-clients
id -nG vitaled > "$work/groups.log" 2>&1
grep -qw video "$work/groups.log"
ok $? "vitaled is in group video" "$work/groups.log"
check "group vitaled-passthrough exists" getent group vitaled-passthrough
grep -qw vitaled-passthrough "$work/groups.log"
ok $? "vitaled is in group vitaled-passthrough (pass-through ports)" "$work/groups.log"

# ---- unit -------------------------------------------------------------------
check "vitaled.service is enabled" systemctl is-enabled vitaled.service
systemd-analyze verify "$unit" > "$work/verify.log" 2>&1
rc=$?
[ "$rc" -eq 0 ] && [ ! -s "$work/verify.log" ]
ok $? "systemd-analyze verify of the installed unit: clean" "$work/verify.log"
systemd-analyze security --offline=yes --no-pager "$unit" \
	> "$work/security.log" 2>&1
score=$(sed -n 's/.*Overall exposure level for vitaled.service: \([0-9.]*\).*/\1/p' "$work/security.log")
echo "# exposure of the installed unit: ${score:-?}"
awk -v s="${score:-99}" 'BEGIN { exit !(s <= 2.0) }'
ok $? "systemd-analyze security of the installed unit: ${score:-?} <= 2.0" "$work/security.log"

# The updater: the timer runs it, the unit is the one with network.
check "vitaled-trust-update.timer is enabled" systemctl is-enabled vitaled-trust-update.timer
systemd-analyze verify "$unitdir/vitaled-trust-update.service" \
	"$unitdir/vitaled-trust-update.timer" > "$work/verify.log" 2>&1
rc=$?
[ "$rc" -eq 0 ] && [ ! -s "$work/verify.log" ]
ok $? "systemd-analyze verify of the updater's unit and timer: clean" "$work/verify.log"
systemd-analyze security --offline=yes --no-pager "$unitdir/vitaled-trust-update.service" \
	> "$work/security.log" 2>&1
score=$(sed -n 's/.*Overall exposure level for vitaled-trust-update.service: \([0-9.]*\).*/\1/p' \
	"$work/security.log")
echo "# exposure of the updater's unit: ${score:-?}"
awk -v s="${score:-99}" 'BEGIN { exit !(s <= 2.0) }'
ok $? "systemd-analyze security of the updater's unit: ${score:-?} <= 2.0" "$work/security.log"
/usr/libexec/vitaled/vitaled-trust-update > "$work/update.log" 2>&1
rc=$?
[ "$rc" -eq 11 ] && grep -q 'no \[TrustUpdate\] URL' "$work/update.log"
ok $? "the installed updater, with no URL configured: nothing to do (exit 11)" "$work/update.log"

# ---- remove, purge ------------------------------------------------------------
# The replay cache systemd would have created, so that purge has state to remove.
install -d -o vitaled -g vitaled -m 0700 /var/lib/vitaled
install -o vitaled -g vitaled -m 0600 /dev/null /var/lib/vitaled/replay.cache
# ... and the updater's (its StateDirectory, as the system user vitaled-update).
install -d -o vitaled-update -g vitaled-update -m 0700 /var/lib/vitaled-trust-update
install -o vitaled-update -g vitaled-update -m 0600 /dev/null \
	/var/lib/vitaled-trust-update/validators

dpkg -r vitaled > "$work/remove.log" 2>&1
ok $? "dpkg -r removes it" "$work/remove.log"
left=""
for f in /usr/sbin/vitaled /usr/bin/vitalectl "$unit" "$rules" \
	/usr/libexec/vitaled/vitaled-trust-update "$unitdir/vitaled-trust-update.timer" \
	/usr/share/polkit-1/rules.d/70-vitaled-pcscd.rules; do
	[ -e "$f" ] && left="$left $f"
done
echo "left:$left" > "$work/left.log"
[ -z "$left" ] && [ -e /etc/vitaled/vitaled.conf ]
ok $? "remove takes the programs and system files, keeps the configuration" "$work/left.log"

dpkg --purge vitaled > "$work/purge.log" 2>&1
ok $? "dpkg --purge purges it" "$work/purge.log"
left=""
for f in /etc/vitaled /var/lib/vitaled \
	/var/lib/vitaled-trust-update \
	/etc/systemd/system/multi-user.target.wants/vitaled.service \
	/etc/systemd/system/timers.target.wants/vitaled-trust-update.timer; do
	[ -e "$f" ] || [ -L "$f" ] && left="$left $f"
done
dpkg-query -W -f '${Status}' vitaled 2> /dev/null | grep -qv 'not-installed' && left="$left (package still known)"
echo "left:$left" > "$work/left.log"
[ -z "$left" ]
ok $? "purge leaves no configuration, state or unit link" "$work/left.log"

finish
