#!/bin/bash
# ci-container.sh RELEASE: run the README's test command (scripts/check.sh)
# on this source tree inside a Debian RELEASE container (debootstrap +
# systemd-nspawn), for a second release than the host's.  Ends with the
# container's own "N passed, N failed[, N skipped]" line; when the container
# cannot be made or run, says why and ends with "0 passed, 1 failed".
#
# The root file systems are cached outside the tree, in $VITALED_CI_CACHE
# (default /var/cache/vitaled-ci): RELEASE-minbase (debootstrap, from the
# mirror apt uses here) and RELEASE-deps-HASH (that plus scripts/deps.sh;
# HASH is deps.sh's, so a new dependency makes a new one).  Each run works
# on an overlay of the latter, thrown away afterwards.  Run as root.
set -uo pipefail

release=${1:?usage: ci-container.sh RELEASE}
top=$(cd "$(dirname "$0")/.." && pwd)
cache=${VITALED_CI_CACHE:-/var/cache/vitaled-ci}

fail() {
	echo "container $release: $*"
	echo "0 passed, 1 failed"
	exit 1
}

# The host has no systemd as PID 1: no machined to register with, no scope
# to ask for (--register=no --keep-unit), and a /run that is no tmpfs, so
# nspawn cannot clean its propagation directory itself.  --as-pid2: a stub
# init reaps the test processes' orphans.
# The machine name (and so that directory) is this run's: CI runs may overlap.
nspawn() {
	local root=$1 name=vitaled-ci-$$
	shift
	rm -rf "/run/systemd/nspawn/propagate/$name"
	systemd-nspawn -q -D "$root" -M "$name" --register=no --keep-unit --as-pid2 \
		--setenv=DEBIAN_FRONTEND=noninteractive "$@" </dev/null
}

[ "$(id -u)" -eq 0 ] || fail "needs root (debootstrap, systemd-nspawn)"
for tool in debootstrap systemd-nspawn; do
	command -v "$tool" >/dev/null || fail "$tool not installed (scripts/deps.sh installs it)"
done
mkdir -p "$cache" || fail "cannot create $cache"

mirror=$(sed -n 's|^URIs: *\(\S*/debian\)/*$|\1|p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1)
[ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && $2 ~ /\/debian\/?$/ { print $2; exit }' \
	/etc/apt/sources.list 2>/dev/null)
[ -n "$mirror" ] || fail "no Debian mirror in apt's sources here"

# The cached root file systems are made or replaced under an exclusive lock,
# used under a shared one (held until the end of the run).
exec 9>"$cache/$release.lock" && flock 9 || fail "cannot lock $cache/$release.lock"
base=$cache/$release-minbase
if [ ! -x "$base/usr/bin/apt-get" ]; then
	echo "container $release: debootstrap from $mirror into $base"
	rm -rf "$base.tmp"
	debootstrap --variant=minbase "$release" "$base.tmp" "$mirror" >"$cache/$release-debootstrap.log" 2>&1 ||
		{ tail -n 20 "$cache/$release-debootstrap.log"; fail "debootstrap failed (log: $cache/$release-debootstrap.log)"; }
	rm -rf "$base" && mv "$base.tmp" "$base" || fail "cannot move the rootfs into $base"
fi

deps=$cache/$release-deps-$(sha256sum "$top/scripts/deps.sh" | cut -c1-12)
if [ ! -f "$deps/.complete" ]; then
	echo "container $release: scripts/deps.sh into $deps"
	rm -rf "$deps" "$cache/$release"-deps-*
	cp -a "$base" "$deps.tmp" || fail "cannot copy $base"
	cp "$top/scripts/deps.sh" "$deps.tmp/root/deps.sh"
	nspawn "$deps.tmp" /bin/bash -c 'bash /root/deps.sh && apt-get clean' >"$cache/$release-deps.log" 2>&1 ||
		{ tail -n 20 "$cache/$release-deps.log"; fail "scripts/deps.sh failed inside (log: $cache/$release-deps.log)"; }
	rm -f "$deps.tmp/root/deps.sh"
	touch "$deps.tmp/.complete" && mv "$deps.tmp" "$deps" || fail "cannot move the rootfs into $deps"
fi

flock -s 9

# One run: an overlay on the cached rootfs, the tree copied in as git would
# export it (tracked and new files, no build directories), to /srv: the
# tests run clients as other users, who must read it (not under /root).
run=$(mktemp -d "$cache/run.XXXXXX") || fail "cannot create a run directory in $cache"
mkdir -p "$run/upper" "$run/work" "$run/root"
cleanup() {
	umount "$run/root" 2>/dev/null
	rm -rf "$run"
}
trap cleanup EXIT
mount -t overlay overlay -o "lowerdir=$deps,upperdir=$run/upper,workdir=$run/work" "$run/root" ||
	fail "cannot mount an overlay on $deps"
mkdir -p "$run/root/srv/vitaled"
if git -C "$top" rev-parse --git-dir >/dev/null 2>&1; then
	(cd "$top" && git ls-files -z --cached --others --exclude-standard |
		xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh |
		tar -c --null -T - -f -) | tar -x -C "$run/root/srv/vitaled"
else
	tar -c -C "$top" --exclude='./build*' -f - . | tar -x -C "$run/root/srv/vitaled"
fi || fail "cannot copy the source tree in"

echo "container $release: bash scripts/check.sh"
# All capabilities: the tests make mount and network namespaces of their own.
# The host's network (no --private-network) and the host's CA bundle for
# Node: the D-Bus interop test installs dbus-next from the npm registry, and
# a host that reaches it through a TLS-inspecting proxy trusts that proxy
# in its own bundle only.
# The summary is read from the container's copy of the output: nspawn may
# print a line of its own as it exits.
host_ca=()
[ -f /etc/ssl/certs/ca-certificates.crt ] &&
	host_ca=(--bind-ro=/etc/ssl/certs/ca-certificates.crt:/etc/ssl/host-ca-certificates.crt
		--setenv=NODE_EXTRA_CA_CERTS=/etc/ssl/host-ca-certificates.crt)
nspawn "$run/root" --capability=all "${host_ca[@]}" \
	/bin/bash -c 'cd /srv/vitaled && bash scripts/check.sh 2>&1 | tee /srv/check.out' 2>&1
last=$(tail -n 1 "$run/root/srv/check.out" 2>/dev/null)
echo "$last" | grep -qE '^[0-9]+ passed, [0-9]+ failed' ||
	fail "scripts/check.sh ended without its summary line (last line: ${last:-none})"
echo "$last"
case $last in *" passed, 0 failed"*) exit 0 ;; *) exit 1 ;; esac
