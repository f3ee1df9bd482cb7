#!/bin/sh
# make bench: every benchmark in this directory, each printing its method
# and figures. They use ../shared/corpus when it is present.
cd "$(dirname "$0")/.." || exit 1
status=0
for b in bench/parse.sh; do
	echo "== $b"
	sh "$b" || status=1
done
exit $status
