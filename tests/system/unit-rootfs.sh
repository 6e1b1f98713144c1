#!/bin/bash
# Run inside a Debian 12 minbase root file system (scripts/ci-rootfs.sh) by
# tests/system/test-unit-container.sh: what a clinic PC has beside vitaled
# (systemd as PID 1, the system bus, pcscd, polkit) and what the test
# brings (the virtual reader, the card emulator's Python modules, openssl
# for the test PKI).  The libraries the package links against are listed
# too: the test installs the .deb with dpkg, without a network.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends \
	systemd systemd-sysv dbus libpam-systemd polkitd pkexec pcscd libccid \
	adduser procps openssl \
	libpcsclite1 libdbus-1-3 libssl3 libusb-1.0-0 libzbar0 zlib1g libpng16-16 libjpeg62-turbo \
	libjson-c5 libcurl4 \
	vsmartcard-vpcd python3 python3-virtualsmartcard python3-pycryptodome \
	python3-cryptography python3-cffi-backend
# Boot headless: no getty on a console nobody reads.
rm -f /etc/systemd/system/getty.target.wants/*
echo vitaled-test > /etc/hostname
