#!/bin/sh
# Parsing throughput: facteur parse --json over the shared corpus
# ($(dirname repo)/shared/corpus, else tests/fixtures), release build, run
# REPEAT times (default 5). Prints messages/s and MB/s for the best run.
# Env: FACTEUR (default ./facteur).
root=$(cd "$(dirname "$0")/.." && pwd)
facteur=${FACTEUR:-$root/facteur}
dir=$(dirname "$root")/shared/corpus
[ -d "$dir" ] || dir=$root/tests/fixtures
repeat=${REPEAT:-5}
[ -x "$facteur" ] || { echo "bench/parse.sh: build $facteur first (make)" >&2; exit 1; }
cd "$dir" || exit 1
files=$(ls | grep '\.eml$')
count=$(echo "$files" | wc -l)
bytes=$(cat $files | wc -c)
best=""
i=0
while [ $i -lt "$repeat" ]; do
	start=$(date +%s%N)
	# shellcheck disable=SC2086
	"$facteur" parse --json $files >/dev/null || exit 1
	end=$(date +%s%N)
	ns=$((end - start))
	if [ -z "$best" ] || [ $ns -lt "$best" ]; then best=$ns; fi
	i=$((i + 1))
done
awk -v n="$count" -v b="$bytes" -v ns="$best" -v d="$dir" 'BEGIN {
	s = ns / 1e9
	printf "parse: %d messages, %.1f MB from %s\n", n, b / 1e6, d
	printf "parse: %.0f messages/s, %.1f MB/s (best of runs: %.3f s, full decode: headers, text, attachments, JSON)\n", n / s, b / 1e6 / s, s
}'
