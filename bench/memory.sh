#!/bin/sh
# Peak memory (maximum resident set size, from /usr/bin/time) of the
# release build:
#   - `facteur test -r RULES` over the whole shared corpus in one process,
#     and `facteur run --once` over an IMAP mailbox holding the corpus
#     (the test harness's Dovecot, IMAPS on loopback): target <= 32 MiB;
#   - one 50 MB message (a text body and four base64 attachments of random
#     bytes, made by bench/mem-bigmsg.py) through `facteur test`,
#     `facteur parse`, `facteur parse --json` and `run --once` over IMAP:
#     target <= 3 times the message's size.
# RULES: the 50 reference rules of ../shared/bench/rules.tsv.
# Needs ../shared/corpus; the IMAP part needs root (Dovecot).
# Env: FACTEUR (default ./facteur), BIG (message size, default 50000000).
root=$(cd "$(dirname "$0")/.." && pwd)
facteur=${FACTEUR:-$root/facteur}
shared=$(dirname "$root")/shared
corpus=$shared/corpus
big=${BIG:-50000000}
# The 50 reference rules in facteur's language.
rulesgen=$root/bench/tsv2rules.py
[ -x "$facteur" ] || { echo "bench/memory.sh: build $facteur first (make)" >&2; exit 1; }
[ -d "$corpus" ] || { echo "bench/memory.sh: no corpus in $corpus" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "bench/memory.sh: needs /usr/bin/time (apt-get install time)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM HUP
python3 "$rulesgen" "$shared/bench/rules.tsv" >"$tmp/rules.yaml" || exit 1
"$facteur" check -r "$tmp/rules.yaml" >/dev/null || exit 1

# peak NAME CMD...: run CMD, output discarded; prints the peak in KiB.
peak() {
	name=$1
	shift
	if ! /usr/bin/time -f %M -o "$tmp/time" "$@" >/dev/null 2>"$tmp/err"; then
		echo "bench/memory.sh: $name failed:" >&2
		tail -5 "$tmp/err" >&2
		exit 1
	fi
	tail -1 "$tmp/time"
}

# line WHAT KIB TARGET_KIB: value, target, ratio to the target.
line() {
	awk -v w="$1" -v k="$2" -v t="$3" 'BEGIN {
		printf "memory: %-52s %7.1f MiB  target <= %5.1f MiB  %.2f of target  %s\n",
		    w, k / 1024, t / 1024, k / t, k <= t ? "ok" : "MISSED"
	}'
}

# msg WHAT KIB BYTES: value, the target 3x the size, ratio to the size.
msg() {
	awk -v w="$1" -v k="$2" -v b="$3" 'BEGIN {
		printf "memory: %-52s %7.1f MiB  target <= %5.1f MiB  %.2fx the message  %s\n",
		    w, k / 1024, 3 * b / 1048576, k * 1024 / b,
		    k * 1024 <= 3 * b ? "ok" : "MISSED"
	}'
}

cd "$corpus" || exit 1
set -- *.eml
count=$#
bytes=$(cat "$@" | wc -c)
base=$(peak "facteur --version" "$facteur" --version) || exit 1
kib=$(peak "facteur test" "$facteur" test -r "$tmp/rules.yaml" "$@") || exit 1
cd "$root" || exit 1
echo "memory: corpus $count messages, $(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1e6 }') MB from $corpus; 50 rules"
echo "memory: (startup alone, facteur --version: $(awk -v k="$base" 'BEGIN { printf "%.1f", k / 1024 }') MiB: libraries, no message)"
line "facteur test -r RULES, whole corpus" "$kib" 32768

python3 "$root/bench/mem-bigmsg.py" "$tmp/big.eml" "$big" || exit 1
size=$(wc -c <"$tmp/big.eml")
echo "memory: large message $size bytes (text body + 4 base64 attachments)"
kib=$(peak "facteur test" "$facteur" test -r "$tmp/rules.yaml" "$tmp/big.eml") || exit 1
msg "facteur test -r RULES, large message" "$kib" "$size"
kib=$(peak "facteur parse" "$facteur" parse "$tmp/big.eml") || exit 1
msg "facteur parse, large message" "$kib" "$size"
kib=$(peak "facteur parse --json" "$facteur" parse --json "$tmp/big.eml") || exit 1
msg "facteur parse --json, large message" "$kib" "$size"

if [ "$(id -u)" != 0 ]; then
	echo "memory: run --once over IMAP skipped (the harness's Dovecot needs root)"
	exit 0
fi
# The harness stops Dovecot and facteur whatever happens; timeout bounds
# the whole. In the background, so that a signal to this script reaches it
# at once (timeout passes it on).
FACTEUR=$facteur timeout -k 10 280 python3 "$root/bench/mem-imap.py" \
    "$tmp/rules.yaml" "$corpus" "$tmp/big.eml" >"$tmp/imap" &
job=$!
trap 'kill -TERM $job 2>/dev/null; wait $job; exit 1' INT TERM HUP
wait $job || {
	echo "bench/memory.sh: run --once over IMAP failed" >&2
	exit 1
}
while read -r name b n kib secs; do
	case $name in
	corpus)
		line "run --once over IMAP, corpus ($n messages, ${secs} s)" "$kib" 32768 ;;
	big)
		msg "run --once over IMAP, large message (${secs} s)" "$kib" "$b" ;;
	esac
done <"$tmp/imap"
