#!/bin/sh
# make demo: install what is missing (as root), build, start local Dovecot
# and Exim under a temp dir, drop the sample messages into the bot's inbox,
# run facteur once, and print the replies read back over IMAP.
set -e
cd "$(dirname "$0")/../.."
if [ "$(id -u)" = 0 ]; then
	sh tests/deps.sh
fi
make -s
exec python3 examples/demo/demo.py
