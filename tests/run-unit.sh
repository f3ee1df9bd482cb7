#!/bin/sh
# Run every cmocka unit test binary in DIR, TAP output, one line per case.
# Usage: tests/run-unit.sh DIR
dir=${1:-build/san/tests}
status=0
for t in "$dir"/test_*; do
	[ -x "$t" ] || continue
	echo "# unit: $(basename "$t")"
	# cmocka's TAP mode prints "ok N - name" / "not ok N - name".
	if ! CMOCKA_MESSAGE_OUTPUT=TAP ASAN_OPTIONS=detect_leaks=1 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 "$t"; then
		echo "not ok - $(basename "$t") exited non-zero"
		status=1
	fi
done
exit $status
