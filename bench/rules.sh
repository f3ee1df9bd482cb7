#!/bin/sh
# Rule evaluation throughput: the 50 reference rules of
# $(dirname repo)/shared/bench/rules.tsv, written in facteur's rule language
# by bench/tsv2rules.py, run by `facteur test --json` over every message of
# $(dirname repo)/shared/corpus in one process, against a plain PCRE2 JIT
# scan of the same patterns over the same raw bytes (bench/pcre2-scan.c).
# Best of REPEAT runs (default 5). Then compares which rule each one
# matched per message.
# Env: FACTEUR (default ./facteur), CC (default cc), REPEAT.
root=$(cd "$(dirname "$0")/.." && pwd)
facteur=${FACTEUR:-$root/facteur}
shared=$(dirname "$root")/shared
dir=$shared/corpus
tsv=$shared/bench/rules.tsv
repeat=${REPEAT:-5}
if [ ! -d "$dir" ] || [ ! -f "$tsv" ]; then
	echo "rules: no corpus or rule table ($dir, $tsv): skipped"
	exit 0
fi
[ -x "$facteur" ] || { echo "bench/rules.sh: build $facteur first (make)" >&2; exit 1; }
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
python3 "$root/bench/tsv2rules.py" "$tsv" >"$tmp/rules.yaml" || exit 1
"$facteur" check -r "$tmp/rules.yaml" >"$tmp/check.out" 2>&1 || {
	cat "$tmp/check.out"
	exit 1
}
# shellcheck disable=SC2046
${CC:-cc} -O2 -o "$tmp/pcre2-scan" "$root/bench/pcre2-scan.c" \
    $(pkg-config --cflags --libs libpcre2-8) || exit 1
cd "$dir" || exit 1
files=$(ls | grep -v '^_')
count=$(echo "$files" | wc -l)
# shellcheck disable=SC2086
bytes=$(cat $files | wc -c)

# best_ns CMD...: the shortest wall time of REPEAT runs, in ns.
best_ns() {
	best=""
	i=0
	while [ $i -lt "$repeat" ]; do
		start=$(date +%s%N)
		"$@" >/dev/null || return 1
		end=$(date +%s%N)
		ns=$((end - start))
		if [ -z "$best" ] || [ $ns -lt "$best" ]; then best=$ns; fi
		i=$((i + 1))
	done
	echo "$best"
}
# shellcheck disable=SC2086
f_ns=$(best_ns "$facteur" test -r "$tmp/rules.yaml" --json $files) || {
	echo "rules: facteur test failed"
	exit 1
}
# shellcheck disable=SC2086
s_ns=$(best_ns "$tmp/pcre2-scan" "$tsv" $files) || exit 1
echo "rules: $(grep -c '^  - name:' "$tmp/rules.yaml") rules from $tsv, $count messages, $(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1e6 }') MB from $dir"
echo "rules: method: one process over all files, best of $repeat wall times; facteur test --json decodes as the agent does (RFC 2047 headers, MIME, transfer encodings, charsets, HTML to text) and prints each plan;"
echo "rules: the scan runs the same patterns (PCRE2 caseless|UTF|JIT) on raw header values and the raw bytes after the header block, first match wins"
awk -v n="$count" -v b="$bytes" -v f="$f_ns" -v s="$s_ns" 'BEGIN {
	fs = f / 1e9; ss = s / 1e9
	printf "rules: facteur test: %.0f messages/s, %.1f MB/s (%.3f s)\n", n / fs, b / 1e6 / fs, fs
	printf "rules: pcre2 scan:   %.0f messages/s, %.1f MB/s (%.3f s)\n", n / ss, b / 1e6 / ss, ss
	printf "rules: ratio facteur/scan: %.2fx the time of the scan\n", fs / ss
}'

# Agreement. They can differ, and that is expected: facteur matches
# decoded text (RFC 2047 words in headers, base64 and quoted-printable
# bodies, HTML turned to text, charsets to UTF-8, folded headers unfolded)
# where the scan sees raw bytes; the scan also reads attachments and every
# body part, and facteur only the text a person reads. So a rule may match
# in one and not the other, or an earlier rule win in one of them.
# shellcheck disable=SC2086
"$facteur" test -r "$tmp/rules.yaml" --json $files >"$tmp/facteur.json" || exit 1
# shellcheck disable=SC2086
"$tmp/pcre2-scan" -v "$tsv" $files >"$tmp/scan.tsv" || exit 1
python3 - "$tmp/facteur.json" "$tmp/scan.tsv" <<'PY'
import json, sys
fact = {}
for line in open(sys.argv[1], encoding="utf-8"):
    o = json.loads(line)
    fact[o["file"]] = o["matched"][0] if o["matched"] else None
scan = {}
for line in open(sys.argv[2], encoding="utf-8"):
    cols = line.rstrip("\n").split("\t")
    if len(cols) == 2:
        scan[cols[0]] = None if cols[1] == "-" else cols[1]
if set(fact) != set(scan):
    print("rules: agreement: the two runs saw different files")
    sys.exit(1)
same = sum(1 for f in fact if fact[f] is not None and fact[f] == scan[f])
other = sum(1 for f in fact if fact[f] and scan[f] and fact[f] != scan[f])
fonly = sum(1 for f in fact if fact[f] and not scan[f])
sonly = sum(1 for f in fact if scan[f] and not fact[f])
print("rules: matched at all: facteur %d, scan %d of %d messages"
      % (sum(1 for v in fact.values() if v), sum(1 for v in scan.values() if v), len(fact)))
print("rules: agreement: same rule %d, different rule %d, facteur only %d, scan only %d"
      % (same, other, fonly, sonly))
# Plausible: when both match, the rules mostly agree.
both = same + other
if both and same < both * 0.8:
    print("rules: agreement: fewer than 80%% of messages matched by both got the same rule")
    sys.exit(1)
PY
