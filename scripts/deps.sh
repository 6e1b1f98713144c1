#!/bin/bash
# Install every package vitaled needs to build, test and run its demo on
# Debian 12.  Idempotent; non-interactive.  Run as root.
set -euo pipefail

PACKAGES=(
	# build
	build-essential autoconf automake autoconf-archive libtool libtool-bin pkg-config
	libpcsclite-dev libssl-dev zlib1g-dev libdbus-1-dev libusb-1.0-0-dev libzbar-dev
	libpng-dev libjpeg-dev clang libclang-rt-14-dev
	# run
	pcscd dbus openssl
	# tests: virtual readers and cards, QR tools, fake devices
	vsmartcard-vpcd vsmartcard-vpicc python3-virtualsmartcard python3-pycryptodome
	python3-pyscard python3-cbor2 python3-cryptography python3-dbus python3-gi
	python3-pil python3-evdev pcsc-tools opensc qrencode zbar-tools imagemagick
	umockdev libumockdev-dev gir1.2-umockdev-1.0 socat udev systemd valgrind
	iproute2 util-linux procps strace tmux polkitd faketime
	# tests: the D-Bus interop suite's clients (sd-bus; Node for dbus-next, from npm)
	libsystemd-dev nodejs
	# memory snapshots of the daemon (tests/test-memory-wipe.py: gcore)
	gdb
	# the Debian package test
	debhelper lintian dpkg-dev
)

# npm comes with some nodejs builds (NodeSource); Debian packages it apart.
command -v npm >/dev/null || PACKAGES+=(npm)

missing=()
for p in "${PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
