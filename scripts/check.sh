#!/bin/bash
# Install dependencies, build vitaled out of tree and run the whole test
# suite: the normal build with -Werror, then the suite again under
# AddressSanitizer + UndefinedBehaviorSanitizer, then the Debian package
# build/install/purge test.  Ends with one line "N passed, N failed,
# N skipped", after the reasons for the skipped points: a whole area that
# could not run here must show, not pass for green.
# Run as root from the source tree.
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
bash scripts/deps.sh || { echo "0 passed, 1 failed"; exit 1; }

passed=0
failed=0
skipped=0
skips=$(mktemp /tmp/vitaled-skips.XXXXXX)

# Count what automake's test driver recorded in a build directory.
tally() {
	local log=$1/test-suite.log p f s
	[ -f "$log" ] || { failed=$((failed + 1)); return; }
	p=$(awk '/^# PASS:/ { print $3; exit }' "$log")
	f=$(awk '/^# (FAIL|ERROR|XPASS):/ { n += $3 } END { print n + 0 }' "$log")
	s=$(awk '/^# SKIP:/ { print $3; exit }' "$log")
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-0}))
	skipped=$((skipped + ${s:-0}))
	# "SKIP: tests/test-x.py 3 - what # SKIP why"; a whole script that
	# skipped (1..0 # SKIP why): "SKIP: tests/test-x.py - why"
	sed -n -e 's/^SKIP: \(\S*\) .* # SKIP \(.*\)$/'"${1##*/}"': \1: \2/p' -e t \
		-e 's/^SKIP: \(\S*\) - \(.*\)$/'"${1##*/}"': \1: \2/p' "$1/check.out" >>"$skips"
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
	# a test program that did not build: no suite log, say why
	[ -f test-suite.log ] || grep -E 'error|Error' check.out | head -40
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
# From a clean export, so the build directories above are not packaged
# (a tree without git, as in the CI container: the tree minus those).
debsrc=$(mktemp -d /tmp/vitaled-debsrc.XXXXXX)
if git -C "$top" rev-parse --git-dir >/dev/null 2>&1; then
	git -C "$top" archive HEAD | tar -x -C "$debsrc"
else
	tar -c -C "$top" --exclude=./build --exclude=./build-sanitizers --exclude=./build-demo \
		-f - . | tar -x -C "$debsrc"
fi
# tap_test NAME LOG COMMAND...: run a shell TAP test, show it, count it
tap_test() {
	local name=$1 log=$2
	shift 2
	"$@" >"$log" 2>&1
	cat "$log"
	passed=$((passed + $(grep '^ok ' "$log" | grep -vc ' # SKIP')))
	failed=$((failed + $(grep -c '^not ok ' "$log")))
	skipped=$((skipped + $(grep -c '^ok .* # SKIP' "$log")))
	sed -n 's|^ok .* # SKIP \(.*\)$|deb: '"$name"': \1|p' "$log" >>"$skips"
	if grep -q '^1\.\.0 # SKIP' "$log"; then
		skipped=$((skipped + 1))
		sed -n 's|^1\.\.0 # SKIP \(.*\)$|deb: '"$name"': \1|p' "$log" >>"$skips"
	else
		grep -q '^1\.\.[1-9]' "$log" || failed=$((failed + 1))
	fi
}
tap_test tests/test-deb.sh "$top/build/test-deb.log" bash tests/test-deb.sh "$debsrc"

# The same package under a real systemd, in a booted Debian 12 container.
echo "=== the units under systemd (containers)"
tap_test tests/system/test-unit-container.sh "$top/build/test-unit-container.log" \
	bash tests/system/test-unit-container.sh "$debsrc"
# The pcscd polkit rule where pcscd asks polkit, in a booted Debian 13 container.
tap_test tests/system/test-pcscd-polkit.sh "$top/build/test-pcscd-polkit.log" \
	bash tests/system/test-pcscd-polkit.sh "$debsrc"
rm -rf "$debsrc"

if [ -s "$skips" ]; then
	echo "=== skipped (count, build: test: why)"
	sort "$skips" | uniq -c
fi
rm -f "$skips"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
