#!/bin/bash
# ci-container.sh RELEASE: run the README's test command (scripts/check.sh)
# on this source tree inside a Debian RELEASE container (debootstrap +
# systemd-nspawn), for a second release than the host's.  Ends with the
# container's own "N passed, N failed[, N skipped]" line; when the container
# cannot be made or run, says why and ends with "0 passed, 1 failed".
#
# The root file systems are cached outside the tree (scripts/ci-rootfs.sh):
# RELEASE-minbase and RELEASE-deps-HASH (that plus scripts/deps.sh; HASH
# is deps.sh's, so a new dependency makes a new one).  Each run works on an
# overlay of the latter, thrown away afterwards.  Run as root.
set -uo pipefail

release=${1:?usage: ci-container.sh RELEASE}
top=$(cd "$(dirname "$0")/.." && pwd)

fail() {
	echo "container $release: $*"
	echo "0 passed, 1 failed"
	exit 1
}

# The root file systems and the run's overlay: scripts/ci-rootfs.sh.
. "$top/scripts/ci-rootfs.sh"
ci_check_host || fail "$ci_error"
ci_rootfs "$release" deps "$top/scripts/deps.sh" || fail "$ci_error"
trap ci_cleanup EXIT
ci_overlay "$ci_root" || fail "$ci_error"
run=$ci_run

# The tree copied in as git would export it (tracked and new files, no
# build directories), to /srv: the tests run clients as other users, who
# must read it (not under /root).
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
# --as-pid2: a stub init reaps the test processes' orphans.
ci_nspawn "$run/root" "vitaled-ci-$$" --as-pid2 --capability=all "${host_ca[@]}" \
	/bin/bash -c 'cd /srv/vitaled && bash scripts/check.sh 2>&1 | tee /srv/check.out' </dev/null 2>&1
last=$(tail -n 1 "$run/root/srv/check.out" 2>/dev/null)
echo "$last" | grep -qE '^[0-9]+ passed, [0-9]+ failed' ||
	fail "scripts/check.sh ended without its summary line (last line: ${last:-none})"
echo "$last"
case $last in *" passed, 0 failed"*) exit 0 ;; *) exit 1 ;; esac
