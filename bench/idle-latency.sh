#!/bin/sh
# IDLE latency: from a message accepted by the SMTP server to facteur's
# action done, median and p95 over COUNT messages (default 20) sent one by
# one, with facteur's own share (from the EXISTS it reads) apart. See
# bench/idle-latency.py for how each time is taken. Needs root (the harness
# starts Dovecot and Exim). Env: FACTEUR (default ./facteur), COUNT.
root=$(cd "$(dirname "$0")/.." && pwd)
facteur=${FACTEUR:-$root/facteur}
[ -x "$facteur" ] || { echo "bench/idle-latency.sh: build $facteur first (make)" >&2; exit 1; }
FACTEUR=$facteur exec python3 "$root/bench/idle-latency.py"
