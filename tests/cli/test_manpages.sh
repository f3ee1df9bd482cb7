#!/bin/sh
# The man pages cover the program: every config key, condition, action,
# action setting and template field (read from the key tables of
# src/conf.c, src/rule.c, src/rule-cond.c and src/rule-action.c) appears
# marked up in facteur.yaml(5); every command (src/main.c) and every long
# option (src/cmd-*.c) in facteur(1). A key or option added later without
# documentation fails here. Both pages must lint clean with mandoc.
cd "$(dirname "$0")/../.." || exit 2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0

ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); echo "not ok $n - $1"; }
check() { if eval "$2"; then ok "$1"; else notok "$1"; fi; }

if ! command -v mandoc >/dev/null 2>&1; then
	notok "mandoc is installed (tests/deps.sh installs it)"
	echo "1..$n"
	exit 1
fi

for p in man/facteur.1 man/facteur.yaml.5; do
	mandoc -T lint -W warning "$p" >"$tmp/lint" 2>&1; rc=$?
	check "$p: mandoc -T lint -W warning is clean" \
	    '[ $rc -eq 0 ] && [ ! -s "$tmp/lint" ]'
	[ -s "$tmp/lint" ] && sed 's/^/# /' "$tmp/lint"
	if command -v man >/dev/null 2>&1; then
		MANWIDTH=80 man -l --warnings "$p" >"$tmp/txt" 2>"$tmp/warn"
		check "$p: man -l renders without warnings" \
		    '[ -s "$tmp/txt" ] && [ ! -s "$tmp/warn" ]'
	fi
done
mandoc -T html man/facteur.1 >"$tmp/1.html"
mandoc -T html man/facteur.yaml.5 >"$tmp/5.html"

# The strings of every `static const char *const NAME[] = { ... NULL }`
# and `(const char *const[]){ ... NULL }` table of a file.
tables() {
	awk '
	/const char \*const[^=;]*\[\][ \t]*=[ \t]*\{/ || /\(const char \*const\[\]\)[ \t]*\{/ {
		on = 1
		first = 1
		line = $0
		sub(/.*\{/, "", line)
	}
	on {
		if (!first) line = $0
		first = 0
		s = line
		while (match(s, /"[^"]*"/)) {
			print substr(s, RSTART + 1, RLENGTH - 2)
			s = substr(s, RSTART + RLENGTH)
		}
		if (line ~ /NULL/) on = 0
		line = ""
	}' "$@"
}

# documented FILE.html WORD: WORD marked up as a name in the page.
documented() {
	grep -qE "<(code|var) class=\"(Ic|Cm|Va|Li)\"[^>]*>$(printf %s "$2" |
	    sed 's/[.[\*^$+?(){}|]/\\&/g')</(code|var)>" "$1"
}

tables src/conf.c src/rule.c src/rule-cond.c src/rule-action.c |
    sort -u >"$tmp/keys"
nkeys=$(wc -l <"$tmp/keys")
# Guards against an extraction that finds nothing: these tables exist.
check "key extraction finds the tables ($nkeys names)" '[ "$nkeys" -ge 60 ]'
for k in sends_per_hour ca_file tls_verify recipient attachment autoreply \
    webhook extract every handle from.address message_id; do
	check "key extraction finds '$k'" 'grep -qx "$k" "$tmp/keys"'
done
while read -r k; do
	check "facteur.yaml(5) documents '$k'" 'documented "$tmp/5.html" "$k"'
done <"$tmp/keys"
check "a name not in the page is not found (the check can fail)" \
    '! documented "$tmp/5.html" no_such_key_here'

# Commands and long options in facteur(1).
sed -n 's/^[[:space:]]*{ "\([a-z]*\)", cmd_[a-z]* }.*/\1/p' src/main.c \
    >"$tmp/cmds"
check "command extraction finds 6 or more" '[ "$(wc -l <"$tmp/cmds")" -ge 6 ]'
while read -r c; do
	check "facteur(1) documents command '$c'" \
	    'grep -q "<code class=\"Cm\"[^>]*>$c</code>" "$tmp/1.html"'
done <"$tmp/cmds"
{
	sed -n 's/^[[:space:]]*{ *"\([a-z][a-z0-9-]*\)", *\(no\|required\|optional\)_argument.*/\1/p' src/cmd-*.c
	grep -ho '"--[a-z][a-z0-9-]*"' src/cmd-*.c | tr -d '"' | sed 's/^--//'
} | sort -u >"$tmp/opts"
check "option extraction finds 8 or more" '[ "$(wc -l <"$tmp/opts")" -ge 8 ]'
while read -r o; do
	check "facteur(1) documents --$o" \
	    'grep -q "<code class=\"Fl\">--$o</code>" "$tmp/1.html"'
done <"$tmp/opts"

# Exit codes of src/commands.h in EXIT STATUS; the sections a user needs.
for code in $(sed -n 's/^#define EXIT_[A-Z]*[[:space:]]*\([0-9]*\).*/\1/p' src/commands.h); do
	check "facteur(1) EXIT STATUS lists $code" \
	    'sed -n "/^\.Sh EXIT STATUS/,/^\.Sh /p" man/facteur.1 | grep -qx ".It $code"'
done
for s in SYNOPSIS DESCRIPTION COMMANDS SIGNALS ENVIRONMENT FILES \
    "EXIT STATUS" EXAMPLES "SEE ALSO"; do
	check "facteur(1) has a $s section" 'grep -qx ".Sh $s" man/facteur.1'
done
for s in CONFIGURATION "RULE FILES" CONDITIONS ACTIONS TEMPLATES EXAMPLES; do
	check "facteur.yaml(5) has a $s section" \
	    'grep -qx ".Sh $s" man/facteur.yaml.5'
done
for s in Patterns Captures Limits; do
	check "facteur.yaml(5) has a $s subsection" \
	    'grep -qx ".Ss $s" man/facteur.yaml.5'
done
# The rule examples of README.md and facteur.yaml(5) load: every YAML
# block that holds a list of rules (expect files excepted).
F=${FACTEUR:-./facteur}
mandoc -T ascii man/facteur.yaml.5 | col -bx >"$tmp/5.txt"
awk -v dir="$tmp" '
/^```yaml$/ { on = 1; k++; f = dir "/readme-" k ".yaml"; next }
/^```$/ { on = 0; next }
on { print > f }' README.md
# In the rendered page, a rule file example starts at a "rules:" line
# and ends at the next unindented line.
awk -v dir="$tmp" '
/^ *rules:$/ { on = 1; k++; f = dir "/man-" k ".yaml"; ind = index($0, "r") - 1 }
on && /^[^ ]/ { on = 0 }
on { print substr($0, ind + 1) > f }' "$tmp/5.txt"
nblocks=0
for y in "$tmp"/readme-*.yaml "$tmp"/man-*.yaml; do
	[ -f "$y" ] || continue
	grep -q '^rules:$' "$y" || continue
	grep -q '^messages:' "$y" && continue
	nblocks=$((nblocks + 1))
	"$F" check -r "$y" >"$tmp/out" 2>&1; rc=$?
	check "rule example ${y##*/} loads" '[ $rc -eq 0 ]'
	[ $rc -eq 0 ] || sed 's/^/# /' "$tmp/out" "$y"
done
check "rule examples found in README.md and facteur.yaml(5) ($nblocks)" \
    '[ "$nblocks" -ge 6 ]'
echo "1..$n"
