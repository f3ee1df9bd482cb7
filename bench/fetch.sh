#!/bin/sh
# Fetch throughput over IMAP and POP3 in clear (tls: none), IMAP with
# STARTTLS, IMAPS and POP3 with STLS, from the
# test harness's Dovecot holding the whole corpus ($(dirname repo)/shared/
# corpus, else tests/fixtures): `facteur run --once`, after: keep, state on
# tmpfs, every message through the reference rules. Best of REPEAT runs
# (default 3) per protocol; messages/s and MB/s. Needs root (the harness
# starts Dovecot). Env: FACTEUR (default ./facteur), FETCH_WRAP (a command
# to run facteur under, e.g. "perf record -g"), FETCH_PROTOCOLS (a subset
# of "IMAP IMAP+STARTTLS IMAPS POP3 POP3+STLS").
root=$(cd "$(dirname "$0")/.." && pwd)
facteur=${FACTEUR:-$root/facteur}
dir=$(dirname "$root")/shared/corpus
[ -d "$dir" ] || dir=$root/tests/fixtures
[ -x "$facteur" ] || { echo "bench/fetch.sh: build $facteur first (make)" >&2; exit 1; }
rules=$root/bench/fetch-rules.yaml
tmp=""
# The 50 reference rules when ../shared/bench is there; else the small set
# of bench/fetch-rules.yaml (rules that match nothing: all are tried).
if [ -f "$root/bench/tsv2rules.py" ] &&
    [ -f "$(dirname "$root")/shared/bench/rules.tsv" ]; then
	tmp=$(mktemp /tmp/facteur-fetch-rules.XXXXXX)
	if python3 "$root/bench/tsv2rules.py" \
	    "$(dirname "$root")/shared/bench/rules.tsv" >"$tmp"; then
		rules=$tmp
	fi
fi
FACTEUR=$facteur python3 "$root/bench/fetch-bench.py" "$dir" "$rules"
status=$?
[ -n "$tmp" ] && rm -f "$tmp"
exit $status
