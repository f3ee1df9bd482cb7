#!/bin/sh
# make demo: install what is missing (as root), build, start local Dovecot
# and Exim under a temp dir with a web hook receiver, deliver the sample
# messages of examples/orders, run facteur once with that example's config
# and rules, and read back what happened (replies, folders, hook calls).
set -e
cd "$(dirname "$0")/../.."
if [ "$(id -u)" = 0 ]; then
	sh tests/deps.sh
fi
make -s
exec python3 examples/demo/demo.py
