#!/bin/bash
# The README's first command: install the dependencies, build vitaled out
# of tree (build-demo/), and run the demo (tools/demo/run-demo.py): private
# pcscd with virtual readers and cards, private system bus with vitaled's
# policy, demo PKI, the daemon, and live output from vitalectl.  It ends by
# itself and leaves nothing running.  Run as root from the source tree.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
bash scripts/deps.sh

build="$top/build-demo"
if [ ! -x "$top/configure" ] || [ "$top/configure.ac" -nt "$top/configure" ]; then
	autoreconf -fi >/dev/null
fi
mkdir -p "$build"
cd "$build"
if [ ! -f Makefile ]; then
	"$top/configure" >configure.out 2>&1 || { tail -30 configure.out; exit 1; }
fi
make -j"$(nproc)" >make.out 2>&1 || { grep -E 'error|warning' make.out | head -40; exit 1; }

exec /usr/bin/python3 "$top/tools/demo/run-demo.py" --builddir "$build"
