#!/bin/sh
# The whole test suite, as CI runs it (make test):
#   1. the release build with -Werror,
#   2. unit tests (cmocka) built and run under ASan+UBSan,
#   3. command-line tests (tests/cli/*.sh) against the sanitized binary,
#   4. integration tests (tests/integration/test_*.py) against real servers.
# Every test prints TAP lines ("ok - ..." / "not ok - ..."); this script
# counts them and ends with the line "N passed, N failed".
# Options: --unit-only, --integration-only, or test file names to run.
cd "$(dirname "$0")/.." || exit 2
jobs=$(nproc 2>/dev/null || echo 2)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
mode=all
only=""
for a in "$@"; do
	case $a in
	--unit-only) mode=unit ;;
	--integration-only) mode=integration ;;
	*) only="$only $a" ;;
	esac
done

run() {
	# Run one test program; a crash without a "not ok" line still fails.
	name=$1; shift
	out=$(mktemp)
	"$@" >"$out" 2>&1
	rc=$?
	cat "$out" | tee -a "$log"
	if [ $rc -ne 0 ] && ! grep -q '^not ok' "$out"; then
		echo "not ok - $name exited with status $rc" | tee -a "$log"
	fi
	rm -f "$out"
}

selected() {
	[ -z "$only" ] && return 0
	for o in $only; do
		case $1 in *"$o"*) return 0 ;; esac
	done
	return 1
}

if ! make -s -j"$jobs" WERROR=1 >/dev/null; then
	echo "not ok - release build" | tee -a "$log"
fi
if [ $mode != integration ]; then
	if make -s -j"$jobs" SANITIZE=1 WERROR=1 unit build/san/facteur; then
		[ -z "$only" ] && run unit sh tests/run-unit.sh build/san/tests
		for t in tests/cli/*.sh; do
			[ -f "$t" ] && selected "$t" || continue
			echo "# cli: $t"
			run "$t" env FACTEUR="$PWD/build/san/facteur" sh "$t"
		done
	else
		echo "not ok - sanitizer build" | tee -a "$log"
	fi
fi
if [ $mode != unit ]; then
	for t in tests/integration/test_*.py; do
		[ -f "$t" ] && selected "$t" || continue
		echo "# integration: $t"
		run "$t" env FACTEUR="$PWD/facteur" python3 "$t"
	done
fi
passed=$(grep -c '^ok' "$log")
failed=$(grep -c '^not ok' "$log")
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
