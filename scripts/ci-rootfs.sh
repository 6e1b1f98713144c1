# shellcheck shell=bash
# Sourced (bash) by scripts/ci-container.sh and tests/system/test-unit-container.sh:
# Debian root file systems for systemd-nspawn, cached outside the source tree
# in $VITALED_CI_CACHE (default /var/cache/vitaled-ci):
#   RELEASE-minbase        debootstrap --variant=minbase, from the mirror apt uses here
#   RELEASE-NAME-HASH      that plus a setup script run inside (HASH is the
#                          script's: a changed script makes a new one)
# Each function returns non-zero with the reason in $ci_error.  Needs root,
# debootstrap and systemd-nspawn.

ci_cache=${VITALED_CI_CACHE:-/var/cache/vitaled-ci}
ci_error=

ci_fail() {
	ci_error=$*
	return 1
}

# ci_why_no_boot: why no container is booted here, or nothing.  Inside
# scripts/ci-container.sh's own nspawn container (the Debian 13 half of CI)
# none is: the host half runs those tests.  Other containers (a Docker
# host) may well boot one: that is tried.
ci_why_no_boot() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "booting a container needs root"
	elif [ "$(systemd-detect-virt --container 2>/dev/null)" = systemd-nspawn ]; then
		echo "inside a systemd-nspawn container: no container is booted in it"
	fi
}

# ci_check_host: what making and running a container needs here.
ci_check_host() {
	[ "$(id -u)" -eq 0 ] || ci_fail "needs root (debootstrap, systemd-nspawn)" || return 1
	local tool
	for tool in debootstrap systemd-nspawn flock; do
		command -v "$tool" >/dev/null ||
			ci_fail "$tool not installed (scripts/deps.sh installs it)" || return 1
	done
	mkdir -p "$ci_cache" || ci_fail "cannot create $ci_cache"
}

# ci_nspawn ROOT NAME NSPAWN-ARGS...: the host has no systemd as PID 1: no
# machined to register with, no scope to ask for (--register=no
# --keep-unit), and a /run that is no tmpfs, so nspawn cannot clean its
# propagation directory itself.  NAME is the run's (runs may overlap).
ci_nspawn() {
	local root=$1 name=$2
	shift 2
	rm -rf "/run/systemd/nspawn/propagate/$name"
	systemd-nspawn -q -D "$root" -M "$name" --register=no --keep-unit \
		--setenv=DEBIAN_FRONTEND=noninteractive "$@"
}

ci_mirror() {
	local m
	m=$(sed -n 's|^URIs: *\(\S*/debian\)/*$|\1|p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1)
	[ -n "$m" ] || m=$(awk '$1 == "deb" && $2 ~ /\/debian\/?$/ { print $2; exit }' \
		/etc/apt/sources.list 2>/dev/null)
	[ -n "$m" ] || ci_fail "no Debian mirror in apt's sources here" || return 1
	echo "$m"
}

# ci_rootfs RELEASE NAME SETUP-SCRIPT: sets $ci_root to the cached
# RELEASE-NAME-HASH, made first if missing: a copy of RELEASE-minbase in
# which "bash SETUP-SCRIPT && apt-get clean" ran (with the host's network).
# The cache is made under an exclusive lock on fd 9 (RELEASE.lock), then
# used under a shared one, held until the caller exits.
ci_rootfs() {
	local release=$1 name=$2 setup=$3 base mirror log
	exec 9>"$ci_cache/$release.lock" && flock 9 ||
		ci_fail "cannot lock $ci_cache/$release.lock" || return 1
	base=$ci_cache/$release-minbase
	if [ ! -x "$base/usr/bin/apt-get" ]; then
		mirror=$(ci_mirror) || return 1
		echo "# $release: debootstrap from $mirror into $base"
		log=$ci_cache/$release-debootstrap.log
		rm -rf "$base.tmp"
		debootstrap --variant=minbase "$release" "$base.tmp" "$mirror" >"$log" 2>&1 ||
			{ tail -n 20 "$log"; ci_fail "debootstrap failed (log: $log)"; return 1; }
		rm -rf "$base" && mv "$base.tmp" "$base" ||
			ci_fail "cannot move the rootfs into $base" || return 1
	fi
	ci_root=$ci_cache/$release-$name-$(sha256sum "$setup" | cut -c1-12)
	if [ ! -f "$ci_root/.complete" ]; then
		echo "# $release: $(basename "$setup") into $ci_root"
		log=$ci_cache/$release-$name.log
		rm -rf "$ci_root" "$ci_cache/$release-$name"-*
		cp -a "$base" "$ci_root.tmp" || ci_fail "cannot copy $base" || return 1
		cp "$setup" "$ci_root.tmp/root/setup.sh"
		ci_nspawn "$ci_root.tmp" "vitaled-ci-$$" --as-pid2 \
			/bin/bash -c 'bash /root/setup.sh && apt-get clean' </dev/null >"$log" 2>&1 ||
			{ tail -n 20 "$log"; ci_fail "$(basename "$setup") failed inside (log: $log)"; return 1; }
		rm -f "$ci_root.tmp/root/setup.sh"
		touch "$ci_root.tmp/.complete" && mv "$ci_root.tmp" "$ci_root" ||
			ci_fail "cannot move the rootfs into $ci_root" || return 1
	fi
	flock -s 9
}

# ci_overlay LOWER: sets $ci_run (a directory of this run, to remove with
# ci_overlay_done) and mounts a throw-away overlay of LOWER on $ci_run/root.
ci_overlay() {
	ci_run=$(mktemp -d "$ci_cache/run.XXXXXX") ||
		ci_fail "cannot create a run directory in $ci_cache" || return 1
	mkdir -p "$ci_run/upper" "$ci_run/work" "$ci_run/root"
	mount -t overlay overlay -o "lowerdir=$1,upperdir=$ci_run/upper,workdir=$ci_run/work" \
		"$ci_run/root" || ci_fail "cannot mount an overlay on $1"
}

ci_overlay_done() {
	[ -n "${ci_run:-}" ] || return 0
	umount "$ci_run/root" 2>/dev/null
	rm -rf "$ci_run"
	ci_run=
}

# ci_boot ROOT NAME LOG NSPAWN-ARGS...: boot ROOT with its systemd as PID 1
# (systemd-nspawn -b, pure cgroup v2) in the background.  Once that systemd
# says "running" or "degraded", sets $ci_state and $ci_leader (its PID as
# seen from here: nsenter -t "$ci_leader" -a COMMAND runs inside); else
# returns 1 with $ci_error.  nspawn's output goes to LOG.
ci_boot() {
	local root=$1 name=$2 log=$3
	shift 3
	SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 ci_nspawn "$root" "$name" -b --console=read-only \
		"$@" </dev/null >"$log" 2>&1 &
	ci_boot_shell=$!
	ci_nspawn_pid='' ci_leader='' ci_state=''
	for _ in $(seq 240); do
		[ -n "$ci_nspawn_pid" ] || ci_nspawn_pid=$(pgrep -P "$ci_boot_shell" -x systemd-nspawn)
		[ -n "$ci_nspawn_pid" ] && ci_leader=$(pgrep -P "$ci_nspawn_pid" | head -n1)
		if [ -n "$ci_leader" ]; then
			ci_state=$(nsenter -t "$ci_leader" -a systemctl is-system-running 2>/dev/null)
			case $ci_state in running|degraded) return 0 ;; esac
		fi
		kill -0 "$ci_boot_shell" 2>/dev/null || break
		sleep 0.5
	done
	ci_fail "systemd-nspawn -b did not boot here (state: ${ci_state:-none};" \
		"$(grep -m1 -iE 'fail|error' "$log"))"
}

# ci_poweroff: SIGTERM to nspawn is a clean poweroff of the container;
# SIGKILL after 20 s.
ci_poweroff() {
	[ -n "${ci_boot_shell:-}" ] || return 0
	if [ -n "${ci_nspawn_pid:-}" ] && kill -TERM "$ci_nspawn_pid" 2>/dev/null; then
		for _ in $(seq 40); do kill -0 "$ci_nspawn_pid" 2>/dev/null || break; sleep 0.5; done
		kill -KILL "$ci_nspawn_pid" 2>/dev/null
	fi
	wait "$ci_boot_shell" 2>/dev/null
	ci_boot_shell='' ci_nspawn_pid=''
}

# ci_in COMMAND...: run it as root in the booted container, with a clean
# environment (not the caller's: no bus address of a test harness).
ci_in() {
	nsenter -t "$ci_leader" -a env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"
}

# ci_cleanup: whatever of the above is still up, taken down (for an EXIT trap).
ci_cleanup() {
	ci_poweroff
	ci_overlay_done
}
