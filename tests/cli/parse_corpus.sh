#!/bin/sh
# facteur parse --json over every message of the shared corpus
# ($(dirname repo)/shared/corpus), with the sanitizer build: no crash, no
# sanitizer report, one valid JSON object per message with the keys RULES.md
# promises, every string valid UTF-8. One TAP line per check and one per
# corpus category. When the corpus is absent this test prints nothing.
# Env: FACTEUR (default build/san/facteur).
root=$(cd "$(dirname "$0")/../.." && pwd)
corpus=$(dirname "$root")/shared/corpus
[ -d "$corpus" ] && [ -f "$corpus/_INDEX.tsv" ] || exit 0
facteur=${FACTEUR:-$root/build/san/facteur}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=99
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

# Batches of 100 files, one process each; a failing batch is rerun file by
# file to name the culprit.
cd "$corpus" || exit 1
ls | grep '\.eml$' >"$tmp/files"
total=$(wc -l <"$tmp/files")
split -l 100 "$tmp/files" "$tmp/batch."
: >"$tmp/out.json"
: >"$tmp/bad"
for b in "$tmp"/batch.*; do
	# shellcheck disable=SC2046
	if "$facteur" parse --json $(cat "$b") >"$tmp/part.json" \
	    2>"$tmp/err" && ! grep -q 'Sanitizer\|runtime error' "$tmp/err"
	then
		cat "$tmp/part.json" >>"$tmp/out.json"
		continue
	fi
	while read -r f; do
		if "$facteur" parse --json "$f" >"$tmp/one.json" 2>"$tmp/err" &&
		    ! grep -q 'Sanitizer\|runtime error' "$tmp/err"; then
			cat "$tmp/one.json" >>"$tmp/out.json"
		else
			echo "$f: $(grep -m1 'ERROR\|runtime error' "$tmp/err")" \
			    >>"$tmp/bad"
		fi
	done <"$b"
done
if [ -s "$tmp/bad" ]; then
	echo "not ok - parse_corpus: $(wc -l <"$tmp/bad") of $total messages crashed or tripped a sanitizer"
	sed 's/^/# /' "$tmp/bad" | head -20
else
	echo "ok - parse_corpus: $total messages parsed under ASan+UBSan, no crash, no sanitizer report"
fi

python3 - "$tmp/out.json" "$corpus/_INDEX.tsv" "$total" <<'EOF'
import json, sys

out, index, total = sys.argv[1], sys.argv[2], int(sys.argv[3])
keys = {"file": str, "message_id": (str, type(None)), "date": (str, type(None)),
        "subject": str, "from": list, "to": list, "cc": list, "reply_to": list,
        "return_path": (str, type(None)), "list_id": (str, type(None)),
        "auto_submitted": (str, type(None)), "text": str, "attachments": list,
        "defects": list, "is_list": bool, "is_auto": bool}
problems, seen = [], {}
raw = open(out, "rb").read()
for n, line in enumerate(raw.split(b"\n")):
    if not line:
        continue
    try:
        obj = json.loads(line.decode("utf-8", "strict"))
    except Exception as e:
        problems.append("line %d: %s" % (n + 1, e))
        continue
    for k, t in keys.items():
        if k not in obj or not isinstance(obj[k], t):
            problems.append("%s: key %s missing or of the wrong type" % (obj.get("file"), k))
    for k in ("from", "to", "cc", "reply_to"):
        for a in obj.get(k) or []:
            if not isinstance(a.get("name"), str) or not isinstance(a.get("address"), str):
                problems.append("%s: bad address in %s" % (obj["file"], k))
    for a in obj.get("attachments") or []:
        if not (isinstance(a.get("filename"), str) and isinstance(a.get("content_type"), str)
                and isinstance(a.get("size"), int)):
            problems.append("%s: bad attachment" % obj["file"])
    def strings(v):
        if isinstance(v, str):
            yield v
        elif isinstance(v, list):
            for x in v:
                yield from strings(x)
        elif isinstance(v, dict):
            for x in v.values():
                yield from strings(x)
    for s in strings(obj):
        try:
            s.encode("utf-8", "strict")
        except UnicodeEncodeError:
            problems.append("%s: a string is not valid UTF-8" % obj["file"])
            break
    seen[obj.get("file")] = obj
if problems or len(seen) != total:
    print("not ok - parse_corpus: JSON output (%d objects for %d files)" % (len(seen), total))
    for p in problems[:20]:
        print("# " + p)
else:
    print("ok - parse_corpus: %d valid JSON objects, every key of RULES.md, every string UTF-8" % total)

# One line per category of the index: each of its messages came out whole.
cats = {}
for line in open(index, encoding="utf-8"):
    f = line.rstrip("\n").split("\t")
    if f[0] == "file":
        continue
    for c in (f[8].split(",") if len(f) > 8 and f[8] else ["uncategorised"]):
        cats.setdefault(c, []).append(f[0])
for c in sorted(cats):
    missing = [f for f in cats[c] if f not in seen]
    if missing:
        print("not ok - parse_corpus: category %s: %d of %d missing (%s)" % (c, len(missing), len(cats[c]), missing[0]))
    else:
        print("ok - parse_corpus: category %s: %d messages" % (c, len(cats[c])))

# Facts the index promises: DSN and MDN reports are automatic mail, List-Id
# mail is list mail.
for c, key in (("dsn", "is_auto"), ("mdn", "is_auto"), ("list_id", "is_list")):
    files = [f for f in cats.get(c, []) if f in seen]
    wrong = [f for f in files if not seen[f][key]]
    if wrong:
        print("not ok - parse_corpus: category %s: %s false for %s" % (c, key, ", ".join(wrong[:5])))
    else:
        print("ok - parse_corpus: category %s: %s for all %d" % (c, key, len(files)))
EOF
