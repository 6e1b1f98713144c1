#!/bin/bash
# Install every package vitaled needs to build, test and run its demo on
# Debian 12 (bookworm) or 13 (trixie).  Idempotent; non-interactive.  Run
# as root.
set -euo pipefail

PACKAGES=(
	# build
	build-essential autoconf automake autoconf-archive libtool libtool-bin pkg-config
	libpcsclite-dev libssl-dev zlib1g-dev libdbus-1-dev libusb-1.0-0-dev libzbar-dev
	libpng-dev libjpeg-dev libjson-c-dev clang libclang-rt-dev libcurl4-openssl-dev
	# run (adduser: the package's maintainer scripts; minimal systems lack it)
	pcscd dbus openssl adduser
	# tests: virtual readers and cards, QR tools, fake devices
	vsmartcard-vpcd vsmartcard-vpicc python3-virtualsmartcard python3-pycryptodome
	python3-pyscard python3-cbor2 python3-cryptography python3-dbus python3-gi
	python3-pil python3-evdev pcsc-tools opensc qrencode zbar-tools imagemagick
	xdg-dbus-proxy umockdev libumockdev-dev gir1.2-umockdev-1.0 socat udev systemd valgrind
	iproute2 util-linux procps strace tmux polkitd faketime
	# tests: the D-Bus interop suite's clients (sd-bus; Node for dbus-next, from npm)
	libsystemd-dev nodejs
	# tests: the web bridge end to end in real browsers (tests/test-web.py)
	chromium firefox-esr python3-websocket libnss3-tools
	# memory snapshots of the daemon (tests/test-memory-wipe.py: gcore)
	gdb
	# the Debian package test
	debhelper lintian dpkg-dev
	# CI: the suite again in a Debian 13 container (scripts/ci-container.sh)
	debootstrap systemd-container
	# translations (issue 21): autoreconf runs autopoint; the tests run
	# vitalectl in French
	gettext autopoint locales
)

# npm comes with some nodejs builds (NodeSource); Debian packages it apart.
command -v npm >/dev/null || PACKAGES+=(npm)

# Debian 13 moved systemd.pc and udev.pc (where configure finds the unit and
# rules directories) out of systemd and udev into systemd-dev; Debian 12 has
# no such package.  Asked of apt's lists, so after an update on a fresh system.
release_packages() {
	if apt-cache show systemd-dev >/dev/null 2>&1; then echo systemd-dev; fi
}

missing_packages() {
	local p
	for p in "${PACKAGES[@]}" $(release_packages); do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
	done
}

export DEBIAN_FRONTEND=noninteractive
missing=($(missing_packages))
if [ ${#missing[@]} -gt 0 ]; then
	apt-get update -q
	missing=($(missing_packages))
	[ ${#missing[@]} -eq 0 ] ||
		apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# vitalectl's French output is tested under LANG=fr_FR.UTF-8 (issue 21):
# localedef rather than locale-gen, which would regenerate every locale of
# /etc/locale.gen and needs that file (a debootstrapped system has none).
locale -a 2>/dev/null | grep -qix 'fr_FR.utf-\?8' ||
	localedef -i fr_FR -f UTF-8 fr_FR.UTF-8
