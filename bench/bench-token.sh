#!/bin/sh
# Run bench-token on a fresh ES256 token from the test PKI.
#   sh bench/bench-token.sh [ROUNDS]       (from the build directory)
set -eu
srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
builddir=${top_builddir:-.}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
now=1800000000
sh "$srcdir/tests/pki/mkpki.sh" "$work/pki"
/usr/bin/python3 "$srcdir/tests/tokens/mktoken.py" --pki "$work/pki" --variant valid \
	--now $now >"$work/token"
"$builddir/bench/bench-token" "$work/pki/trust.d" $now "$work/token" "${1:-10}"
