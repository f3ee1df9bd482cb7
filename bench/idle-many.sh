#!/bin/sh
# Idle cost of many watched mailboxes: N (default 1,000) Dovecot users, a
# config with N IMAPS accounts `watch: idle` sharing the 50 reference
# rules, one `facteur run` (release build). Measures the time until every
# account is in IDLE, then memory (VmRSS, and PSS from smaps_rollup) and
# CPU (utime + stime over WINDOW, default 60 s, of idle waiting, as a
# percentage of one core). Targets: RSS < 100 MB, CPU < 2% of one core.
# bench/idle-many-run.py does the work; it needs root (Dovecot).
# Env: FACTEUR (default ./facteur), N, WINDOW, NOFILE (default 8192),
# FACTEUR_NOFILE (facteur's own limit, default: NOFILE).
root=$(cd "$(dirname "$0")/.." && pwd)
facteur=${FACTEUR:-$root/facteur}
shared=$(dirname "$root")/shared
n=${N:-1000}
window=${WINDOW:-60}
# The 50 reference rules in facteur's language.
rulesgen=$root/bench/tsv2rules.py
[ -x "$facteur" ] || { echo "bench/idle-many.sh: build $facteur first (make)" >&2; exit 1; }
if [ "$(id -u)" != 0 ]; then
	echo "idle-many: skipped (the harness's Dovecot needs root)"
	exit 0
fi
# One descriptor per account, in facteur and in Dovecot's login
# processes: more than the usual soft limit of 1024.
# shellcheck disable=SC3045 # dash and bash both have ulimit -n
ulimit -n "${NOFILE:-8192}" || exit 1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM HUP
python3 "$rulesgen" "$shared/bench/rules.tsv" >"$tmp/rules.yaml" || exit 1
# The harness stops Dovecot and facteur whatever happens; timeout bounds
# the whole. In the background, so that a signal to this script reaches it
# at once (timeout passes it on).
FACTEUR=$facteur timeout -k 10 290 python3 "$root/bench/idle-many-run.py" \
    "$tmp/rules.yaml" "$n" "$window" >"$tmp/out" &
job=$!
trap 'kill -TERM $job 2>/dev/null; wait $job; exit 1' INT TERM HUP
wait $job || {
	cat "$tmp/out" >&2
	echo "bench/idle-many.sh: failed" >&2
	exit 1
}
awk -v n="$n" '
	{ v[$1] = $2; if ($1 == "dovecot") d = substr($0, 9) }
	END {
		printf "idle-many: %d IMAPS accounts, watch: idle, 50 rules each (one rules file); RLIMIT_NOFILE %s\n", n, v["nofile"]
		printf "idle-many: Dovecot: %s (harness.py keyword args)\n", d
		printf "idle-many: all %d in IDLE after %.1f s (%d connections ESTABLISHED); CPU to get there %.2f s, %.1f ms per account\n",
		    n, v["all_idle_s"], v["connections"], v["startup_cpu_s"], v["startup_cpu_s"] * 1000 / n
		printf "idle-many: %d open file descriptors (%.1f per account)\n", v["fds"], v["fds"] / n
		rss = v["VmRSS"] / 1024; pss = v["Pss"] / 1024
		printf "idle-many: RSS %.1f MiB (PSS %.1f MiB, anonymous %.1f MiB = %.0f KiB x accounts)  target < 100 MiB  %.2f of target  %s\n",
		    rss, pss, v["RssAnon"] / 1024, v["RssAnon"] / n, rss / 100, rss < 100 ? "ok" : "MISSED"
		printf "idle-many: CPU %.3f%% of one core over %.0f s idle (%d ticks)  target < 2%%  %s\n",
		    v["idle_cpu_pct"], v["window_s"], v["idle_cpu_ticks"], v["idle_cpu_pct"] < 2 ? "ok" : "MISSED"
		printf "idle-many: after the window: RSS %.1f MiB, %d connections; reconnects logged %d, EMFILE %d\n",
		    v["VmRSS_end"] / 1024, v["connections_end"], v["warnings"], v["emfile"]
		printf "idle-many: SIGTERM: exit %d after %.1f s (DONE and LOGOUT on every connection)\n",
		    v["exit"], v["stop_s"]
	}' "$tmp/out"
