#!/bin/sh
# facteur test: the plan and the reasons, --json, --expect with a diff,
# and no state or network touched.
cd "$(dirname "$0")/../.." || exit 2
F=${FACTEUR:-./facteur}
D=tests/cli/data
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
out=$tmp/out

run() {
	want=$1; what=$2; shift 2
	"$F" "$@" >"$out" 2>&1
	rc=$?
	if [ "$rc" -eq "$want" ]; then
		echo "ok - test: $what exits $want"
	else
		echo "not ok - test: $what exits $rc, not $want"
		sed 's/^/# /' "$out"
	fi
}

has() {
	if grep -qF -- "$1" "$out"; then
		echo "ok - test: says '$1'"
	else
		echo "not ok - test: does not say '$1'"
		sed 's/^/# /' "$out"
	fi
}

run 0 "the plan of a matching message" test -r $D/good-rules.yaml $D/order.eml
has "rule order: matched (1 action); stop"
has "rule lists: not evaluated (stopped earlier)"
has "1. reply (rule order)"
has "subject: Re: Order #123456 placed"
has "body: Order 123456 received."

run 0 "why nothing matched" test -r $D/good-rules.yaml $D/other.eml
has "rule order: no match: $D/good-rules.yaml:5:11: from: '@shop\\.example\$' did not match the value \"x@example.net\""
has "rule lists: no match: $D/good-rules.yaml:11:10: list: the message is not a list message"
has "plan: nothing to do"

run 0 "--json" test -r $D/good-rules.yaml --json $D/order.eml $D/other.eml
if python3 -c '
import json, sys
lines = open(sys.argv[1]).read().splitlines()
assert len(lines) == 2, lines
a, b = [json.loads(l) for l in lines]
assert list(a) == ["file", "matched", "actions"], list(a)
assert a["file"].endswith("order.eml") and a["matched"] == ["order"]
r = a["actions"][0]
assert r["rule"] == "order" and r["type"] == "reply", r
assert r["to"] == "shop@shop.example" and r["body"] == "Order 123456 received."
assert b["matched"] == [] and b["actions"] == []
' "$out"; then
	echo "ok - test: --json gives one object per message"
else
	echo "not ok - test: --json output"
	sed 's/^/# /' "$out"
fi

cat > "$tmp/expect.yaml" <<EOT
messages:
  - file: $PWD/$D/order.eml
    matched: [order]
    actions:
      - {type: reply, subject: "Re: Order #123456 placed"}
  - file: $PWD/$D/other.eml
    matched: []
EOT
run 0 "--expect, all as expected" test -r $D/good-rules.yaml --expect "$tmp/expect.yaml"
has "ok - $PWD/$D/order.eml"
has "# 2 messages, 0 mismatches"

cat > "$tmp/wrong.yaml" <<EOT
messages:
  - file: $PWD/$D/order.eml
    matched: [order, lists]
    actions:
      - {type: reply, subject: "Re: Order #999"}
  - file: no-such.eml
EOT
run 1 "--expect with differences" test -r $D/good-rules.yaml --expect "$tmp/wrong.yaml"
has "not ok - $PWD/$D/order.eml"
has '#   - matched: ["order","lists"]'
has '#   + matched: ["order"]'
has '#   - actions[0].subject: "Re: Order #999"'
has '#   + actions[0].subject: "Re: Order #123456 placed"'
has "not ok - $tmp/no-such.eml"
has "# 2 messages, 2 mismatches"

printf 'messages:\n  - file: x.eml\n    matchd: []\n' > "$tmp/badexp.yaml"
run 78 "--expect with an unknown key" test -r $D/good-rules.yaml --expect "$tmp/badexp.yaml"
has "$tmp/badexp.yaml:3:5: unknown key 'matchd'"

run 78 "broken rules" test -r $D/bad-regex.yaml $D/order.eml
has "$D/bad-regex.yaml:5:43: bad pattern: missing closing parenthesis"
run 66 "a missing message" test -r $D/good-rules.yaml $D/no-such.eml
run 64 "no rules" test $D/order.eml
run 64 "--expect and messages" test -r $D/good-rules.yaml --expect x.yaml $D/order.eml

# The rules of one account of a config, with its name as {{account}}.
run 0 "-c CONFIG -a ACCOUNT" test -c $D/good.yaml -a local --json $D/order.eml
has '"matched":["order"]'
run 78 "-a with an unknown account" test -c $D/good.yaml -a nobody $D/order.eml
has "no account 'nobody'"

# A dry run writes nothing: no state file appears under HOME.
mkdir "$tmp/home"
HOME=$tmp/home XDG_STATE_HOME= "$F" test -r $D/good-rules.yaml $D/order.eml >/dev/null 2>&1
if [ -z "$(ls -A "$tmp/home")" ]; then
	echo "ok - test: no state written"
else
	echo "not ok - test: files appeared in HOME"
fi
