#!/bin/sh
# Every example's expect file must pass: facteur test --expect prints one
# TAP line per message and exits 1 on any difference.
cd "$(dirname "$0")/../.." || exit 2
F=${FACTEUR:-./facteur}
for e in examples/*/expect.yaml; do
	[ -f "$e" ] || continue
	echo "# $e"
	"$F" test --expect "$e"
	rc=$?
	if [ $rc -eq 0 ]; then
		echo "ok - examples: $e passes"
	else
		echo "not ok - examples: $e exits $rc"
	fi
done
