#!/bin/sh
# facteur --help, help COMMAND, COMMAND --help / -h, --version.
# Each command's help must name every long option its source declares
# (the longopts tables of src/cmd-*.c), so an option added without help
# fails here. --version must report the library versions pkg-config
# knows (Debian builds against the same versions it runs with).
cd "$(dirname "$0")/../.." || exit 2
F=${FACTEUR:-./facteur}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0

ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); echo "not ok $n - $1"; }
check() { if eval "$2"; then ok "$1"; else notok "$1"; fi; }

commands="run check test parse deliver state"

"$F" --help >"$tmp/out" 2>"$tmp/err"; rc=$?
check "--help exits 0" '[ $rc -eq 0 ]'
check "--help writes nothing to stderr" '[ ! -s "$tmp/err" ]'
for c in $commands; do
	check "--help lists $c" 'grep -q "^  $c  *[a-z]" "$tmp/out"'
done
check "--help lists exit code 75" 'grep -q "75 temporary failure" "$tmp/out"'
"$F" -h >"$tmp/out2" 2>&1
check "-h is --help" 'cmp -s "$tmp/out" "$tmp/out2"'
"$F" help >"$tmp/out2" 2>&1
check "help is --help" 'cmp -s "$tmp/out" "$tmp/out2"'

"$F" >"$tmp/out" 2>"$tmp/err"; rc=$?
check "no command: exit 64" '[ $rc -eq 64 ]'
check "no command: usage on stderr" 'grep -q "^usage: facteur COMMAND" "$tmp/err" && [ ! -s "$tmp/out" ]'

for c in $commands; do
	"$F" help "$c" >"$tmp/h1" 2>"$tmp/err"; rc=$?
	check "help $c exits 0" '[ $rc -eq 0 ] && [ ! -s "$tmp/err" ]'
	check "help $c starts with its usage" \
	    'head -n1 "$tmp/h1" | grep -q "^usage: facteur $c "'
	"$F" "$c" --help >"$tmp/h2" 2>&1; rc=$?
	check "$c --help exits 0, same text" '[ $rc -eq 0 ] && cmp -s "$tmp/h1" "$tmp/h2"'
	"$F" "$c" -h >"$tmp/h2" 2>&1; rc=$?
	check "$c -h exits 0, same text" '[ $rc -eq 0 ] && cmp -s "$tmp/h1" "$tmp/h2"'
	# Long options from the command's source.
	src=src/cmd-$c.c
	opts=$(sed -n 's/^[[:space:]]*{ *"\([a-z][a-z0-9-]*\)", *\(no\|required\|optional\)_argument.*/\1/p' "$src")
	[ "$c" = parse ] && opts="json"
	for o in $opts; do
		check "help $c names --$o" 'grep -q -- "--$o\\b" "$tmp/h1"'
	done
done

# Help anywhere among the arguments, not after "--".
"$F" test -r rules/spam.yaml --help >"$tmp/out" 2>&1; rc=$?
check "test -r X --help is help" '[ $rc -eq 0 ] && head -n1 "$tmp/out" | grep -q "^usage: facteur test"'
"$F" parse -- -h >"$tmp/out" 2>"$tmp/err"; rc=$?
check "parse -- -h reads a file named -h" \
    '[ $rc -ne 0 ] && ! grep -q "^usage:" "$tmp/out" && grep -q -- "-h" "$tmp/err"'

"$F" help nosuch >"$tmp/out" 2>"$tmp/err"; rc=$?
check "help nosuch: exit 64, names it" \
    '[ $rc -eq 64 ] && grep -q "unknown command .nosuch." "$tmp/err" && [ ! -s "$tmp/out" ]'
"$F" nosuch >"$tmp/out" 2>"$tmp/err"; rc=$?
check "unknown command: exit 64" '[ $rc -eq 64 ] && grep -q "unknown command .nosuch." "$tmp/err"'

"$F" --version >"$tmp/out" 2>"$tmp/err"; rc=$?
check "--version exits 0" '[ $rc -eq 0 ] && [ ! -s "$tmp/err" ]'
check "--version: facteur and VERSION" 'head -n1 "$tmp/out" | grep -qx "facteur $(cat VERSION)"'
for pair in libcurl:libcurl pcre2:libpcre2-8 gmime:gmime-3.0 \
    libyaml:yaml-0.1 sqlite:sqlite3 jansson:jansson openssl:libcrypto \
    libxml2:libxml-2.0; do
	name=${pair%%:*}
	pc=${pair#*:}
	want=$(pkg-config --modversion "$pc" 2>/dev/null)
	if [ -z "$want" ]; then
		check "--version names $name" 'grep -q "^  $name " "$tmp/out"'
		continue
	fi
	check "--version: $name $want" \
	    'grep "^  $name " "$tmp/out" | grep -qF " $want"'
done
"$F" -V >"$tmp/out2" 2>&1
check "-V is --version" 'cmp -s "$tmp/out" "$tmp/out2"'
# The release binary under valgrind: no memory error, no definite leak
# (the sanitized binary of `make test` checks the same with ASan).
if command -v valgrind >/dev/null 2>&1 && [ -x ./facteur ]; then
	for args in "--version" "help state" "test --help" "--help"; do
		# shellcheck disable=SC2086
		valgrind -q --leak-check=full --show-leak-kinds=definite \
		    --errors-for-leak-kinds=definite --error-exitcode=99 \
		    ./facteur $args >/dev/null 2>"$tmp/vg"; rc=$?
		check "valgrind: facteur $args is clean" '[ $rc -eq 0 ]'
		[ $rc -eq 0 ] || sed 's/^/# /' "$tmp/vg"
	done
fi
echo "1..$n"
