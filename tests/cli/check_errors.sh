#!/bin/sh
# facteur check: good files pass; broken ones give every error with its
# exact FILE:LINE:COL and exit 78.
cd "$(dirname "$0")/../.." || exit 2
F=${FACTEUR:-./facteur}
D=tests/cli/data
out=$(mktemp)
trap 'rm -f "$out"' EXIT

# run EXPECTED-RC DESCRIPTION ARGS...: the exit code, output kept in $out
run() {
	want=$1; what=$2; shift 2
	"$F" "$@" >"$out" 2>&1
	rc=$?
	if [ "$rc" -eq "$want" ]; then
		echo "ok - check: $what exits $want"
	else
		echo "not ok - check: $what exits $rc, not $want"
		sed 's/^/# /' "$out"
	fi
}

# has LINE: the output has exactly this line
has() {
	if grep -qxF -- "$1" "$out"; then
		echo "ok - check: says '$1'"
	else
		echo "not ok - check: no line '$1'"
		sed 's/^/# /' "$out"
	fi
}

run 0 "a good config and its rules" check -c $D/good.yaml
has "$D/good.yaml: ok (1 account, 2 rules)"
run 0 "the shipped example config" check -c config/facteur.yaml
run 0 "the shipped rules" check -r rules/ignore-automatic.yaml -r rules/spam.yaml
for ex in examples/*/rules.yaml; do
	run 0 "$ex" check -r "$ex"
done

run 78 "bad YAML" check -r $D/bad-yaml.yaml
has "$D/bad-yaml.yaml:4:5: bad YAML: did not find expected ',' or '}' while parsing a flow mapping"

run 78 "unknown keys" check -r $D/unknown-key.yaml
has "$D/unknown-key.yaml:5:5: unknown key 'colour' in a rule (expected: name, if, then, stop, description)"
has "$D/unknown-key.yaml:7:5: unknown key 'iff' in a rule (expected: name, if, then, stop, description)"
has "$D/unknown-key.yaml:8:31: unknown key 'color' in move (expected: folder)"

run 78 "bad patterns" check -r $D/bad-regex.yaml
has "$D/bad-regex.yaml:5:43: bad pattern: missing closing parenthesis"
has "$D/bad-regex.yaml:6:21: bad pattern: range out of order in character class"

run 78 "unknown template variables" check -r $D/unknown-var.yaml
has "$D/unknown-var.yaml:6:37: unknown variable 'ordr' in template (not a capture of this rule nor a message field)"
has "$D/unknown-var.yaml:9:18: unknown variable 'from.adress' in template (not a capture of this rule nor a message field)"
has "$D/unknown-var.yaml:10:43: unknown variable 'nope' in template (not a capture of this rule nor a message field)"

# Config errors and the errors of the rules it names, all in one run.
run 78 "a bad config" check -c $D/bad-config.yaml
has "$D/bad-config.yaml:4:8: 'tls' expects required or none"
has "$D/bad-config.yaml:9:5: unknown key 'colour' in an account (expected: name, url, mailboxes, user, password, oauth2, auth, ca_file, tls_verify, tls, watch, poll, after, addresses, rules)"
has "$D/bad-config.yaml:11:10: unknown url 'ftp://example.com' (expected imap://, imaps://, pop3://, pop3s:// or maildir:PATH)"
has "$D/bad-config.yaml:13:23: 'replies_per_sender' expects COUNT/PERIOD, such as 1/1d"
has "$D/bad-regex.yaml:5:43: bad pattern: missing closing parenthesis"
n=$(grep -c ':[0-9]*:[0-9]*: ' "$out")
if [ "$n" -eq 6 ]; then
	echo "ok - check: every error reported once (6)"
else
	echo "not ok - check: $n errors reported, not 6"
fi

# An account's tls: none is for imap:// and pop3:// only; an account in
# clear text with tls: none is fine.
run 78 "account tls" check -c $D/bad-tls.yaml
has "$D/bad-tls.yaml:9:10: 'tls: none' contradicts the url's imaps: use imap:// for a connection without TLS"
has "$D/bad-tls.yaml:15:10: 'tls' expects required or none"
n=$(grep -c ':[0-9]*:[0-9]*: ' "$out")
if [ "$n" -eq 2 ]; then
	echo "ok - check: account tls: two errors, none for tls: none on imap://"
else
	echo "not ok - check: account tls: $n errors reported, not 2"
fi

# retry and liveness: durations, with their positions.
run 78 "bad retry and liveness keys" check -c $D/bad-retry.yaml
has "$D/bad-retry.yaml:3:12: 'max_age' expects a duration such as 30s, 5m, 2h or 7d"
has "$D/bad-retry.yaml:6:3: unknown key 'every' in liveness (expected: warn_after)"

run 78 "a missing rule file" check -r $D/no-such-file.yaml
has "$D/no-such-file.yaml: cannot open: No such file or directory"
run 64 "a stray argument" check extra
