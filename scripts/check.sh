#!/bin/bash
# Install dependencies, build vitaled out of tree and run the whole test
# suite: the normal build with -Werror, then the suite again under
# AddressSanitizer + UndefinedBehaviorSanitizer, then the Debian package
# build/install/purge test.  Ends with one line "N passed, N failed".
# Run as root from the source tree.
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
bash scripts/deps.sh || { echo "0 passed, 1 failed"; exit 1; }

passed=0
failed=0

# Count what automake's test driver recorded in a build directory.
tally() {
	local log=$1/test-suite.log p f
	[ -f "$log" ] || { failed=$((failed + 1)); return; }
	p=$(awk '/^# PASS:/ { print $3; exit }' "$log")
	f=$(awk '/^# (FAIL|ERROR|XPASS):/ { n += $3 } END { print n + 0 }' "$log")
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-0}))
}

# build DIR CONFIGURE-ARGS...: configure, build, run the suite
build() {
	local dir=$1
	shift
	rm -rf "$dir" && mkdir -p "$dir" && cd "$dir" || return 1
	if ! "$top/configure" --enable-werror "$@" >configure.out 2>&1; then
		tail -30 configure.out
		return 1
	fi
	if ! make -j2 >make.out 2>&1; then
		grep -E 'error|warning' make.out | head -40
		return 1
	fi
	make -j2 check >check.out 2>&1
	grep -E '^(PASS|FAIL|ERROR|XPASS|SKIP):|^# ' check.out
	for f in $(grep -lE '^:test-result: (FAIL|ERROR)' $(find . -name '*.trs') 2>/dev/null); do
		echo "==== ${f%.trs}.log"
		tail -60 "${f%.trs}.log"
	done
	cd "$top"
}

autoreconf -fi >/dev/null 2>&1 || { echo "autoreconf failed"; echo "0 passed, 1 failed"; exit 1; }

echo "=== build and test (-Werror)"
if build "$top/build" ; then tally "$top/build"; else failed=$((failed + 1)); fi

# A few mutants of the security core must each turn a unit test red
# (the whole list: tests/mutants/run, see HACKING.md).
echo "=== mutants (CI subset)"
rm -rf "$top/build-mutants"
/usr/bin/python3 tests/mutants/run --ci --dir "$top/build-mutants" > "$top/build/mutants.out" 2>&1
mrc=$?
cat "$top/build/mutants.out"
passed=$((passed + $(grep -c '^ok ' "$top/build/mutants.out")))
failed=$((failed + $(grep -c '^not ok ' "$top/build/mutants.out")))
if [ "$mrc" -ne 0 ] && ! grep -q '^not ok ' "$top/build/mutants.out"; then
	failed=$((failed + 1))
	tail -40 "$top/build-mutants/mutants.log"
fi

echo "=== build and test under ASan+UBSan"
# umockdev preloads its library before the ASan runtime: allow that order.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:verify_asan_link_order=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
if build "$top/build-sanitizers" --enable-sanitizers; then tally "$top/build-sanitizers"; else failed=$((failed + 1)); fi

# The Debian package: build, install with dpkg, check, purge (needs root).
echo "=== Debian package"
# From a clean export, so the build directories above are not packaged.
debsrc=$top
if git -C "$top" rev-parse --git-dir >/dev/null 2>&1; then
	debsrc=$(mktemp -d /tmp/vitaled-debsrc.XXXXXX)
	git -C "$top" archive HEAD | tar -x -C "$debsrc"
fi
bash tests/test-deb.sh "$debsrc" > "$top/build/test-deb.log" 2>&1
[ "$debsrc" = "$top" ] || rm -rf "$debsrc"
cat "$top/build/test-deb.log"
passed=$((passed + $(grep -c '^ok ' "$top/build/test-deb.log")))
failed=$((failed + $(grep -c '^not ok ' "$top/build/test-deb.log")))
grep -q '^1\.\.[1-9]' "$top/build/test-deb.log" || failed=$((failed + 1))

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
