# shellcheck shell=bash
# TAP for the shell tests (sourced): ok, check, finish.  $work must name
# a scratch directory before check is used.
n=0
failed=0

ok() {	# ok CONDITION-STATUS NAME [DIAGNOSTIC-FILE]
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2"
		failed=$((failed + 1))
		if [ -n "${3:-}" ] && [ -s "$3" ]; then
			tail -n 40 "$3" | sed 's/^/#   /'
		fi
	fi
}

check() {	# check NAME COMMAND...
	local name=$1
	shift
	"$@" > "$work/check.log" 2>&1
	ok $? "$name" "$work/check.log"
}

finish() {
	echo "1..$n"
	[ "$failed" -eq 0 ]
	exit $?
}

skip_all() {	# skip_all REASON: the whole test cannot run here
	echo "1..0 # SKIP $*"
	exit 0
}
