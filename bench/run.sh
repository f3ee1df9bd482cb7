#!/bin/sh
# make bench: every benchmark in this directory (bench/*.sh: rules, parse
# and memory first, then the others in name order, deliver-latency right
# after idle-latency),
# each printing its method and figures. They use ../shared/corpus when it is
# present. The whole output, with the machine and the date, is also written
# to BENCHMARKS.md.
cd "$(dirname "$0")/.." || exit 1
status=0
out=$(mktemp)
{
	echo "# Benchmarks"
	echo
	echo "Written by \`make bench\` on $(date -u '+%Y-%m-%d %H:%M UTC'),"
	echo "facteur $(cat VERSION 2>/dev/null), $(uname -sr),"
	echo "$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'),"
	echo "$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)."
	echo
	echo '```'
} >"$out"
# The CPU-bound benchmarks first, on a quiet machine: the ones that start
# Dovecot (1,000 users for idle-many) leave it busy for a while after.
first="bench/rules.sh bench/parse.sh bench/memory.sh"
for b in $first $(ls bench/*.sh | grep -v -e '^bench/run\.sh$' \
    -e '^bench/rules\.sh$' -e '^bench/parse\.sh$' -e '^bench/memory\.sh$' \
    -e '^bench/deliver-latency\.sh$' |
    sed 's|^bench/idle-latency\.sh$|& bench/deliver-latency.sh|'); do
	echo "== $b" | tee -a "$out"
	{ sh "$b" 2>&1; echo $? >"$out.rc"; } | tee -a "$out"
	if [ "$(cat "$out.rc")" != 0 ]; then
		echo "== $b failed (exit $(cat "$out.rc"))" | tee -a "$out"
		status=1
	fi
	[ "$(tail -c1 "$out")" = "" ] || echo >>"$out"
done
echo '```' >>"$out"
# A failing benchmark prints what failed; the figures file keeps the rest.
if [ -f bench/NOTES.md ]; then
	echo >>"$out"
	cat bench/NOTES.md >>"$out"
fi
rm -f "$out.rc"
mv "$out" BENCHMARKS.md
exit $status
