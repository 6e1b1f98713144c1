#!/bin/bash
# The polkit rule (polkit/70-vitaled-pcscd.rules) where pcscd asks polkit:
# Debian 13's pcsc-lite 2.x.  Boots a Debian 13 container (systemd as PID
# 1, the system bus, polkitd, socket-activated pcscd with the vpcd
# readers) and connects to pcscd as a system user "vitaled" with no login
# session, as the service does: refused without the rule, let in with it,
# while another user stays refused.  Debian 12's pcscd (1.9.9) is built
# without polkit and lets every local client in: nothing to test there
# (checked below on this host's pcscd when it is that one).
#
# The root file system is the Debian 13 one of scripts/ci-container.sh
# (trixie-deps-HASH, scripts/ci-rootfs.sh: made once, cached outside the
# tree), booted on a throw-away overlay.  Prints TAP.
# Usage: tests/system/test-pcscd-polkit.sh [SRCDIR]
set -u

srcdir=$(cd "${1:-${top_srcdir:-$(dirname "$0")/../..}}" && pwd)
. "$srcdir/tests/lib/tap.sh"
. "$srcdir/scripts/ci-rootfs.sh"

why=$(ci_why_no_boot)
[ -z "$why" ] || skip_all "$why"

work=$(mktemp -d /tmp/vitaled-pcscd-polkit.XXXXXX)
trap 'ci_cleanup; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

# This host's pcscd, when it is Debian 12's: no polkit, so no rule needed.
if pcscd=$(command -v pcscd || ls /usr/sbin/pcscd 2>/dev/null); then
	echo "# this host's pcscd: $(dpkg-query -W -f '${Version}' pcscd 2>/dev/null)," \
		"linked with polkit: $(ldd "$pcscd" | grep -c libpolkit)"
fi

{ ci_check_host && ci_rootfs trixie deps "$srcdir/scripts/deps.sh" && ci_overlay "$ci_root"; } \
	> "$work/rootfs.log" 2>&1 || echo "$ci_error" >> "$work/rootfs.log"
sed -n 's/^# /# rootfs: /p' "$work/rootfs.log"
[ -z "$ci_error" ]
ok $? "a Debian 13 root file system with pcscd, polkitd, vpcd" "$work/rootfs.log"
[ -z "$ci_error" ] || finish
root=$ci_run/root

# The client: what the daemon does first (plugins/pcsc.c), then the readers.
mkdir -p "$root/srv/t"
cat > "$root/srv/t/client.py" <<'EOF'
from smartcard import scard
rc, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_SYSTEM)
if rc == scard.SCARD_S_SUCCESS:
    rc, readers = scard.SCardListReaders(ctx, [])
print("%s %s" % ("allowed" if rc == scard.SCARD_S_SUCCESS else "refused",
                 scard.SCardGetErrorMessage(rc)))
EOF
chmod -R a+rX "$root/srv/t"

if ! ci_boot "$root" "vitaled-polkit-$$" "$work/boot.log" --private-network; then
	tail -n 20 "$work/boot.log" | sed 's/^/# boot: /'
	n=$((n + 1))
	echo "ok $n - systemd boots in the container # SKIP $ci_error"
	finish
fi
ok 0 "systemd boots in the Debian 13 container ($ci_state)"

ci_in sh -c 'dpkg-query -W pcscd polkitd; ldd /usr/sbin/pcscd | grep libpolkit;
	ls /usr/share/polkit-1/actions/org.debian.pcsc-lite.policy' > "$work/pcscd.log" 2>&1
ok $? "Debian 13's pcscd is built with polkit and defines its actions" "$work/pcscd.log"
sed 's/^/# /' "$work/pcscd.log" | head -n 2

ci_in useradd --system --no-create-home --shell /usr/sbin/nologin vitaled > "$work/user.log" 2>&1
ok $? "a system user vitaled, no login session" "$work/user.log"

client() {	# client USER GROUP: "allowed ..." or "refused ..."
	ci_in setpriv --reuid="$1" --regid="$2" --clear-groups /usr/bin/python3 /srv/t/client.py 2>&1
}
client vitaled vitaled > "$work/without.log"
ci_in journalctl --no-pager -o cat -u pcscd >> "$work/without.log" 2>&1
grep -q '^refused' "$work/without.log" && grep -q 'NOT authorized' "$work/without.log"
ok $? "without the rule pcscd refuses vitaled (polkit: no active session)" "$work/without.log"

cp "$srcdir/polkit/70-vitaled-pcscd.rules" "$root/usr/share/polkit-1/rules.d/"
# polkitd reloads its rules when the directory changes: wait for the change.
for _ in $(seq 120); do
	client vitaled vitaled > "$work/with.log"
	grep -q '^allowed' "$work/with.log" && break
	sleep 0.5
done
ci_in journalctl --no-pager -o cat -u polkit -n 5 >> "$work/with.log" 2>&1
grep -q '^allowed' "$work/with.log"
ok $? "with polkit/70-vitaled-pcscd.rules pcscd lets vitaled in" "$work/with.log"
client nobody nogroup > "$work/nobody.log"
grep -q '^refused' "$work/nobody.log"
ok $? "... and still refuses another user" "$work/nobody.log"

finish
