#!/bin/bash
# The package's units as an admin runs them: under a real systemd (PID 1 of
# a Debian 12 container, systemd-nspawn -b), with the real system bus and a
# socket-activated pcscd.  Builds the .deb, installs it with dpkg in the
# booted container and checks there: a clean first install, Type=notify and
# the watchdog, the sandbox as applied to the process (capabilities,
# NoNewPrivileges, seccomp, read-only /usr, no /home, the device cgroup,
# IPAddressDeny), a card read end to end with vitalectl (vpcd and the card
# emulator inside), D-Bus activation, reload, restart after a crash and
# after a hang, and a purge that leaves nothing.  Prints TAP.
#
# One container is booted for all the checks.  Its root file system is
# cached outside the tree (scripts/ci-rootfs.sh: bookworm-minbase, then
# bookworm-unit-HASH made by tests/system/unit-rootfs.sh); each run boots
# a throw-away overlay of it.  Needs root, debootstrap, systemd-nspawn and
# the package build dependencies.  Skips (saying why) where no container
# can be booted: not root, inside an nspawn container, or when systemd
# does not boot in it on this machine.
#
# Another unit of the package: add it to UNITS (the checks every unit
# gets: loaded from the package, enabled, verify, exposure), then give it
# its own behaviour checks as a section below.
#
# Usage: tests/system/test-unit-container.sh [SRCDIR]
set -u

srcdir=$(cd "${1:-${top_srcdir:-$(dirname "$0")/../..}}" && pwd)
. "$srcdir/tests/lib/tap.sh"
. "$srcdir/tests/lib/deb.sh"
. "$srcdir/scripts/ci-rootfs.sh"

release=bookworm
UNITS="vitaled.service vitaled-trust-update.service"
# Bounded waits (a loaded machine is slow; nothing here is a timing check).
WAIT=60

why=$(ci_why_no_boot)
[ -z "$why" ] || skip_all "$why"

work=$(mktemp -d /tmp/vitaled-unit.XXXXXX)
trap 'ci_cleanup; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

ci_check_host > "$work/host.log" 2>&1 || echo "$ci_error" >> "$work/host.log"
[ -z "$ci_error" ]
ok $? "this host can make containers" "$work/host.log"
[ -z "$ci_error" ] || finish

deb_build "$srcdir" "$work"
ok $? "dpkg-buildpackage builds $(basename "$deb")" "$work/build.log"
[ -f "$deb" ] || finish

ci_rootfs "$release" unit "$srcdir/tests/system/unit-rootfs.sh" > "$work/rootfs.log" 2>&1 ||
	echo "$ci_error" >> "$work/rootfs.log"
sed -n 's/^# /# rootfs: /p' "$work/rootfs.log"
ci_overlay "${ci_root:-}" >> "$work/rootfs.log" 2>&1 || echo "$ci_error" >> "$work/rootfs.log"
[ -z "$ci_error" ]
ok $? "a $release root file system with systemd, dbus, pcscd, polkit, vpcd" "$work/rootfs.log"
[ -z "$ci_error" ] || finish
root=$ci_run/root

# What the container gets from the tree: the package, the card emulator and
# the test PKI's maker.
t=$root/root/t
mkdir -p "$t/pki"
cp "$deb" "$t/vitaled.deb"
cp -r "$srcdir/tests/emu" "$t/"
cp "$srcdir/tests/pki/mkpki.sh" "$t/pki/"
cp "$srcdir/tests/system/trust-update-rig.sh" "$t/"

# Boot.  Pure cgroup v2 and bpf() allowed: without both, systemd silently
# skips DevicePolicy= and IPAddressDeny= (their BPF programs).  A private
# network: vpcd's fixed ports must not meet a pcscd of the host.
if ! ci_boot "$root" "vitaled-unit-$$" "$work/boot.log" --private-network \
	--system-call-filter=bpf; then
	# The one point that may be this machine's, not the package's.
	tail -n 20 "$work/boot.log" | sed 's/^/# boot: /'
	n=$((n + 1))
	echo "ok $n - systemd boots in the container # SKIP $ci_error"
	finish
fi
ok 0 "systemd boots in the container ($ci_state)"

prop() {	# prop UNIT PROPERTY
	ci_in systemctl show -p "$2" --value "$1"
}
# wait_until DESCRIPTION COMMAND...: poll COMMAND (inside) until it succeeds.
wait_until() {
	local what=$1
	shift
	for _ in $(seq $((WAIT * 2))); do
		ci_in "$@" > /dev/null 2>&1 && return 0
		sleep 0.5
	done
	echo "# gave up waiting for: $what"
	return 1
}
main_pid() { prop vitaled MainPID; }
# kill_main SIGNAL: signal the main process, never "PID 0" (our own group).
kill_main() {
	local pid
	pid=$(main_pid)
	[ "${pid:-0}" -gt 0 ] && ci_in kill -s "$1" "$pid"
}

# ---- install ------------------------------------------------------------------
ci_in systemctl --failed --no-legend --plain > "$work/failed-boot.log" 2>&1
[ -s "$work/failed-boot.log" ] && sed 's/^/# failed at boot: /' "$work/failed-boot.log"

# pcscd waits on its socket until a client comes.
ci_in systemctl is-active pcscd.service > "$work/pcscd-before.log" 2>&1
ci_in dpkg -i /root/t/vitaled.deb > "$work/install.log" 2>&1
ok $? "dpkg -i installs the package" "$work/install.log"
! grep -iE 'error|fail|could not|warning|unknown' "$work/install.log" > "$work/install-errors.log"
ok $? "the install prints no error nor warning" "$work/install.log"

# The postinst started the service and deb-systemd-invoke waited for
# READY=1: it must have come up at the first try.
echo "ActiveState=$(prop vitaled ActiveState) SubState=$(prop vitaled SubState)" \
	"NRestarts=$(prop vitaled NRestarts) Result=$(prop vitaled Result)" > "$work/first.log"
ci_in journalctl -b --no-pager -o cat -u vitaled >> "$work/first.log" 2>&1
grep -q '^ActiveState=active SubState=running NRestarts=0 Result=success$' "$work/first.log" &&
	! grep -qiE 'cannot own|not allowed|failed|status=' "$work/first.log"
ok $? "the first start succeeds: running, no restart, nothing refused" "$work/first.log"

# dbus-daemon re-read its configuration when dpkg unpacked the policy (before
# the user existed) and when the postinst asked it to: what it said.
ci_in journalctl -b --no-pager -o cat -u dbus | grep -iE 'vitaled|reload' | sed 's/^/# dbus: /'

# ---- every unit of the package --------------------------------------------------
for unit in $UNITS; do
	ci_in systemctl show -p FragmentPath --value "$unit" > "$work/frag.log" 2>&1
	path=$(cat "$work/frag.log")
	[ -n "$path" ] && ci_in dpkg -S "$path" >> "$work/frag.log" 2>&1
	ok $? "$unit: loaded from the package's file ${path:-?}" "$work/frag.log"
	check "$unit: enabled" ci_in systemctl is-enabled "$unit"
	ci_in systemd-analyze verify --man=no "$unit" > "$work/verify.log" 2>&1
	[ $? -eq 0 ] && [ ! -s "$work/verify.log" ]
	ok $? "$unit: systemd-analyze verify is clean (man pages: tests/test-deb.sh)" "$work/verify.log"
	ci_in systemd-analyze security --no-pager "$unit" > "$work/security.log" 2>&1
	score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' "$work/security.log")
	awk -v s="${score:-99}" 'BEGIN { exit !(s <= 2.0) }'
	ok $? "$unit: exposure of the running unit ${score:-?} <= 2.0" "$work/security.log"
done

# ---- vitaled.service: Type=notify, watchdog -------------------------------------
for p in Type NotifyAccess StatusText WatchdogUSec WatchdogTimestampMonotonic; do
	echo "$p=$(prop vitaled $p)"
done > "$work/notify.log"
ci_in systemctl status --no-pager -n 0 vitaled >> "$work/notify.log" 2>&1
grep -q '^Type=notify$' "$work/notify.log" && grep -q '^StatusText=Ready$' "$work/notify.log" &&
	grep -q 'Active: active (running)' "$work/notify.log"
ok $? "active (running), Type=notify, READY=1 with STATUS=Ready" "$work/notify.log"
grep -q '^WatchdogUSec=30s$' "$work/notify.log" &&
	grep -qE '^WatchdogTimestampMonotonic=[1-9]' "$work/notify.log"
ok $? "the watchdog is armed (30 s) and has been pinged" "$work/notify.log"

# ---- the sandbox, as applied to the process ----------------------------------------
pid=$(main_pid)
ci_in grep -E '^(Uid|CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' \
	"/proc/$pid/status" > "$work/status.log" 2>&1
uid=$(ci_in id -u vitaled)
grep -qE "^Uid:\s+$uid\s" "$work/status.log" &&
	[ "$(grep -cE '^Cap(Inh|Prm|Eff|Bnd|Amb):\s+0+$' "$work/status.log")" -eq 5 ]
ok $? "runs as vitaled with no capability, not even in its bounding set" "$work/status.log"
grep -qE '^NoNewPrivs:\s+1$' "$work/status.log" && grep -qE '^Seccomp:\s+2$' "$work/status.log"
ok $? "NoNewPrivileges and a seccomp filter" "$work/status.log"
# In the process's own mount namespace:
ci_in nsenter -t "$pid" -m touch /usr/vitaled-probe > "$work/ro.log" 2>&1
[ $? -ne 0 ] && grep -q 'Read-only file system' "$work/ro.log"
ok $? "/usr is read-only to it" "$work/ro.log"
ci_in mkdir -p /home/alice
ci_in touch /home/alice/notes
ci_in nsenter -t "$pid" -m ls -A /home > "$work/home.log" 2>&1
[ ! -s "$work/home.log" ] && ci_in test -e /home/alice/notes
ok $? "/home is empty to it (ProtectHome)" "$work/home.log"

# A shell put into the service's cgroup is under the same device and IP
# filters: /dev/net/tun (10:200) is outside DeviceAllow (opening it let
# through would fail with EBADFD instead), /dev/ptmx is allowed.
cg=/sys/fs/cgroup/system.slice/vitaled.service
in_cg() {	# in_cg SHELL-COMMAND: run it in the service's cgroup
	ci_in sh -c "echo \$\$ > $cg/cgroup.procs && $1"
}
in_cg 'exec head -c1 /dev/net/tun' > "$work/dev.log" 2>&1
grep -q 'Operation not permitted' "$work/dev.log"
ok $? "the device cgroup refuses /dev/net/tun (not in DeviceAllow)" "$work/dev.log"
ci_in sh -c 'exec head -c1 /dev/net/tun' > "$work/dev-out.log" 2>&1
in_cg 'exec 3<>/dev/ptmx' >> "$work/dev-out.log" 2>&1
[ $? -eq 0 ] && ! grep -q 'Operation not permitted' "$work/dev-out.log"
ok $? "... which outside the cgroup opens it, and lets /dev/ptmx (allowed) through" \
	"$work/dev-out.log"

# IPAddressDeny=any: a UDP datagram to 127.0.0.1 from the service's cgroup
# is dropped on its way out (sendto: EPERM), while from outside it goes.
udp_send='exec /usr/bin/python3 -c "import socket
socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b\"x\", (\"127.0.0.1\", 7777))"'
ci_in sh -c "$udp_send" > "$work/ip-out.log" 2>&1
ok $? "a UDP datagram to 127.0.0.1 goes from outside the service" "$work/ip-out.log"
in_cg "$udp_send" > "$work/ip.log" 2>&1
[ $? -ne 0 ] && grep -q 'PermissionError' "$work/ip.log"
ok $? "IPAddressDeny: the same datagram from the service's cgroup is refused" "$work/ip.log"

# ---- a card read end to end -------------------------------------------------------
# The demo PKI in the trust store (the admin's step), then a reload: the
# same process takes the new trust material.
ci_in bash /root/t/pki/mkpki.sh /root/t/demo --demo > "$work/pki.log" 2>&1 &&
	ci_in sh -c 'cp /root/t/demo/trust.d/* /etc/vitaled/trust.d/ &&
		printf "[Trust]\nAllowTestCards = true\n" > /etc/vitaled/vitaled.conf.d/50-test.conf' \
		>> "$work/pki.log" 2>&1
ok $? "demo PKI in /etc/vitaled/trust.d, test cards allowed" "$work/pki.log"
pid=$(main_pid)
ci_in systemctl reload vitaled > "$work/reload.log" 2>&1
rc=$?
# SIGHUP is handled after systemctl returns: wait until the daemon says
# the new store is in force (a card read before would keep its verdict).
wait_until "the reloaded trust store in vitalectl status" \
	sh -c 'vitalectl status | grep -q "trust store: *1 root, 1 signer"'
ci_in vitalectl status >> "$work/reload.log" 2>&1
echo "before: $pid after: $(main_pid) $(prop vitaled ActiveState)" >> "$work/reload.log"
[ $rc -eq 0 ] && [ "$pid" -gt 0 ] && [ "$(main_pid)" = "$pid" ] &&
	grep -q ' active$' "$work/reload.log" && grep -q 'trust store: *1 root, 1 signer' "$work/reload.log"
ok $? "systemctl reload: the same process takes the new trust store" "$work/reload.log"

# The emulator on the virtual reader that the pcscd package's reader.conf.d
# configures (vpcd, 127.0.0.1:35963), as a unit so it dies with the test.
ci_in systemd-run -q -u vt-card /usr/bin/python3 /root/t/emu/vcard.py --pki /root/t/demo \
	--profile card --variant demo
wait_until "vitalectl readers to show a verified card" \
	sh -c 'vitalectl readers | grep -q verified'
ci_in vitalectl readers > "$work/readers.log" 2>&1
grep -E 'card-present +verified' "$work/readers.log" > /dev/null
echo "main process: $(main_pid) (reloaded: $pid)" >> "$work/readers.log"
grep -q "^main process: $pid " "$work/readers.log"
ok $? "vitalectl readers: the card in the vpcd reader is verified (trust store of the reload)" \
	"$work/readers.log"
first=$(/usr/bin/python3 -c 'import json, sys
print(json.load(open(sys.argv[1]))["beneficiaries"][0]["first_name"])' \
	"$srcdir/tests/emu/families/reference.json")
ci_in vitalectl show > "$work/show.log" 2>&1
[ $? -eq 0 ] && grep -qi "$first" "$work/show.log"
ok $? "vitalectl show (root, over the system bus) prints the beneficiaries" "$work/show.log"
{ cat "$work/pcscd-before.log"; echo "after: $(prop pcscd.service ActiveState)" \
	"$(prop pcscd.service TriggeredBy)"; } > "$work/pcscd.log"
grep -qx inactive "$work/pcscd-before.log" && grep -q '^after: active pcscd.socket' "$work/pcscd.log"
ok $? "pcscd: idle at boot, started by its socket for vitaled" "$work/pcscd.log"

# ---- D-Bus activation --------------------------------------------------------------
ci_in systemctl stop vitaled > "$work/activation.log" 2>&1
echo "after stop: $(prop vitaled ActiveState)" >> "$work/activation.log"
ci_in busctl --system call org.vitaled /org/vitaled org.freedesktop.DBus.Peer Ping \
	>> "$work/activation.log" 2>&1
rc=$?
echo "after the call: $(prop vitaled ActiveState) pid $(main_pid)" >> "$work/activation.log"
[ $rc -eq 0 ] && grep -q '^after stop: inactive' "$work/activation.log" &&
	grep -q '^after the call: active' "$work/activation.log"
ok $? "D-Bus activation: a call to org.vitaled starts the stopped service" "$work/activation.log"

# ---- restart after a crash, after a hang ---------------------------------------------
# wait_restart OLD-PID: until another process is the running main one.
wait_restart() {
	wait_until "a new main process" sh -c \
		"test \"\$(systemctl show -p MainPID --value vitaled)\" != $1 &&
		 test \"\$(systemctl show -p MainPID --value vitaled)\" != 0 &&
		 systemctl is-active -q vitaled"
}
pid=$(main_pid)
restarts=$(prop vitaled NRestarts)
kill_main SEGV
wait_restart "$pid"
ci_in journalctl -b --no-pager -o cat -u vitaled -n 20 > "$work/segv.log" 2>&1
echo "old $pid new $(main_pid) NRestarts $restarts -> $(prop vitaled NRestarts)" >> "$work/segv.log"
grep -q 'status=11/SEGV' "$work/segv.log" && [ "$(prop vitaled NRestarts)" -eq $((restarts + 1)) ] &&
	[ "$(main_pid)" != "$pid" ]
ok $? "SIGSEGV: restarted (Restart=on-failure)" "$work/segv.log"

pid=$(main_pid)
kill_main STOP
wait_restart "$pid"
ci_in journalctl -b --no-pager -o cat -u vitaled -n 20 > "$work/watchdog.log" 2>&1
echo "old $pid new $(main_pid)" >> "$work/watchdog.log"
grep -q 'Watchdog timeout' "$work/watchdog.log" && [ "$(main_pid)" != "$pid" ]
ok $? "SIGSTOP: the watchdog kills the hung process and it is restarted" "$work/watchdog.log"
ci_in systemctl stop vt-card

# ---- the trust updater: its timer, its fetch, its network --------------------------
ci_in systemctl show -p Triggers -p ActiveState -p SubState -p UnitFileState \
	vitaled-trust-update.timer > "$work/timer.log" 2>&1
ci_in systemd-analyze verify --man=no vitaled-trust-update.timer >> "$work/timer.log" 2>&1
grep -qx 'Triggers=vitaled-trust-update.service' "$work/timer.log" &&
	grep -qx 'SubState=waiting' "$work/timer.log" && grep -qx 'UnitFileState=enabled' "$work/timer.log" &&
	[ "$(grep -c . "$work/timer.log")" -eq 4 ]
ok $? "vitaled-trust-update.timer: enabled, waiting, triggers the updater, verify clean" \
	"$work/timer.log"

# An issuer's trust-list PKI, a bundle of the trust store in force and an
# HTTPS server for it at https://trust.test:8443 (a name in /etc/hosts: the
# updater resolves it under its address-family limits).
ci_in sh /root/t/trust-update-rig.sh > "$work/trust-rig.log" 2>&1
ok $? "a trust-list root pinned, a signed bundle served over HTTPS, [TrustUpdate] URL set" \
	"$work/trust-rig.log"
ci_in systemd-run -q -u vt-web /usr/bin/python3 /root/t/tl/serve.py
# The timer fires (a drop-in makes it due now, as at a boot past its
# time), the service runs under its own sandbox and user, fetches and
# hands the bundle to the daemon through the drop directory.
ci_in sh -c 'mkdir -p /run/systemd/system/vitaled-trust-update.timer.d &&
	printf "[Timer]\nOnActiveSec=1s\nRandomizedDelaySec=0\n" \
		> /run/systemd/system/vitaled-trust-update.timer.d/now.conf &&
	systemctl daemon-reload && systemctl restart vitaled-trust-update.timer'
wait_until "the timer's run of the updater to end" sh -c \
	'test "$(systemctl show -p ExecMainExitTimestampMonotonic --value vitaled-trust-update.service)" -gt 0'
{
	echo "Result=$(prop vitaled-trust-update.service Result)" \
		"ExecMainStatus=$(prop vitaled-trust-update.service ExecMainStatus)"
	ci_in journalctl -b --no-pager -o cat -u vitaled-trust-update.service
	ci_in stat -c '%U:%G %a %n' /var/lib/vitaled /var/lib/vitaled/trust-incoming
	ci_in journalctl -b --no-pager -o cat -n 8 -u vitaled -u dbus
	ci_in busctl --system get-property org.vitaled /org/vitaled org.vitaled.Manager1 \
		TrustBundleVersion
} > "$work/update.log" 2>&1
grep -q '^Result=success ExecMainStatus=0$' "$work/update.log" &&
	grep -qx 't 1' "$work/update.log"
ok $? "the timer fires: the updater fetches over HTTPS, the daemon installs bundle version 1" \
	"$work/update.log"
# What the daemon may not do (IPAddressDeny=any, checked above with UDP) the
# updater did: the same HTTPS server, from a shell in the daemon's cgroup
# (the dropped SYN may fail at once or time out) and from outside it.
fetch='exec /usr/bin/python3 -c "import socket
socket.create_connection((\"127.0.0.1\", 8443), timeout=5).close()"'
in_cg "$fetch" > "$work/net-daemon.log" 2>&1
rc=$?
ci_in sh -c "$fetch" >> "$work/net-daemon.log" 2>&1
[ $? -eq 0 ] && [ $rc -ne 0 ] && grep -qE 'PermissionError|timed out' "$work/net-daemon.log"
ok $? "vitaled.service cannot reach the trust server: the network is the updater's alone" \
	"$work/net-daemon.log"
ci_in systemctl stop vt-web
ci_in sh -c 'rm -rf /run/systemd/system/vitaled-trust-update.timer.d && systemctl daemon-reload'

# ---- purge ----------------------------------------------------------------------------
# What the admin added is theirs to remove (doc/admin.md); the rest is the
# package's.
ci_in sh -c 'rm -rf /etc/vitaled/trust.d/* /etc/vitaled/vitaled.conf.d/50-test.conf \
		/etc/vitaled/vitaled.conf.d/60-update.conf /etc/vitaled/update-ca.pem \
		/etc/vitaled/trust-list-root.d' &&
	ci_in dpkg --purge vitaled > "$work/purge.log" 2>&1
ok $? "dpkg --purge purges it" "$work/purge.log"
! grep -iE 'error|fail|could not|warning' "$work/purge.log" > /dev/null
ok $? "the purge prints no error nor warning" "$work/purge.log"
ci_in sh -c 'for f in /etc/vitaled /var/lib/vitaled /run/vitaled \
	/usr/share/dbus-1/system.d/org.vitaled.conf \
	/usr/share/dbus-1/system-services/org.vitaled.service \
	/etc/systemd/system/multi-user.target.wants/vitaled.service; do
	[ -e "$f" ] || [ -L "$f" ] && echo "left: $f"; done
	pgrep -a -x vitaled | sed "s/^/running: /"
	systemctl show -p LoadState --value vitaled.service | grep -vx not-found | sed "s/^/unit: /"
	dpkg-query -W -f "\${Status}\n" vitaled 2>/dev/null | grep -v not-installed | sed "s/^/package: /"
	true' > "$work/left.log" 2>&1
[ ! -s "$work/left.log" ]
ok $? "nothing is left: files, process, unit, package" "$work/left.log"

finish
