#!/bin/sh
# Push latency through the MTA: from a message accepted by the SMTP server
# to facteur's action done, when Exim hands the message to `facteur deliver`
# through a pipe transport (no mailbox, no IDLE). Median and p95 over COUNT
# messages (default 20) sent one by one, the same messages, rule and reply
# as bench/idle-latency.sh, with Exim's share (accepted -> facteur started)
# and facteur's (started -> done) apart, then facteur's CPU time per
# message. See bench/deliver-latency.py for how each time is taken. Needs root (the harness starts Dovecot and Exim).
# Env: FACTEUR (default ./facteur), COUNT.
root=$(cd "$(dirname "$0")/.." && pwd)
facteur=${FACTEUR:-$root/facteur}
[ -x "$facteur" ] || { echo "bench/deliver-latency.sh: build $facteur first (make)" >&2; exit 1; }
FACTEUR=$facteur exec python3 "$root/bench/deliver-latency.py"
