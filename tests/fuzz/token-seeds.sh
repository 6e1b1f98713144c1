#!/bin/sh
# token-seeds.sh PKIDIR OUTDIR: fresh seed tokens signed by this PKI, so that
# fuzz-token reaches the signature, claims and data-group code (the
# committed corpus was signed by another, random, test PKI).
set -eu
srcdir=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$2"
for v in valid valid-ps256 untagged expired wrong-holder forged-document test-marker \
		opposed revoked long-lived; do
	/usr/bin/python3 "$srcdir/tests/tokens/mktoken.py" --pki "$1" --variant $v \
		--now 1800000000 | head -1 | tr -d '\n' >"$2/seed-$v"
done
