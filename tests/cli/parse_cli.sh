#!/bin/sh
# facteur parse: exit codes and output shape, on tests/fixtures.
# Env: FACTEUR (default build/san/facteur).
root=$(cd "$(dirname "$0")/../.." && pwd)
facteur=${FACTEUR:-$root/build/san/facteur}
fx=$root/tests/fixtures
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

check() {
	if [ "$1" = 0 ]; then echo "ok - parse_cli: $2"; else echo "not ok - parse_cli: $2"; fi
}

"$facteur" parse >/dev/null 2>&1
check $(( $? != 64 )) "no file is a usage error (64)"
"$facteur" parse --bogus "$fx/flanker__iphone.eml" >/dev/null 2>&1
check $(( $? != 64 )) "an unknown option is a usage error (64)"

"$facteur" parse --json "$tmp/nope.eml" "$fx/flanker__iphone.eml" >"$tmp/out" 2>"$tmp/err"
rc=$?
check $(( rc != 66 )) "a missing file gives 66"
check $(( $(wc -l <"$tmp/out") != 1 )) "the other files are still parsed"
grep -q nope.eml "$tmp/err"; check $? "the missing file is named on stderr"

python3 - "$tmp/out" <<'PY'
import json, sys
o = json.loads(open(sys.argv[1], encoding="utf-8").readline())
ok = (o["subject"] == "Subject" and o["from"] == [{"name": "Danielle", "address": "someone@somewhere.com"}]
      and o["attachments"][0]["filename"] == "photo.JPG" and o["attachments"][0]["content_type"] == "image/jpeg"
      and o["text"].startswith("Hello") and o["return_path"] == "someone@somewhere.com")
print(("ok" if ok else "not ok") + " - parse_cli: --json fields of flanker__iphone.eml")
PY

"$facteur" parse "$fx/mail_gem__plain_emails__raw_email.eml" >"$tmp/txt"
check $? "readable view exits 0"
grep -q '^Subject: NOTE: 한국말로 하는 것$' "$tmp/txt"; check $? "readable view shows the decoded subject"

"$facteur" parse --json - <"$fx/mimekit__messages__delivery-status.txt.eml" >"$tmp/stdin"
grep -q '"is_auto":true' "$tmp/stdin"; check $? "stdin (-) is parsed; a DSN is automatic"
