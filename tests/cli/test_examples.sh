#!/bin/sh
# Every example is complete and stays valid:
#   - facteur.yaml, rules.yaml, expect.yaml, messages/ and README.md exist;
#   - every sample message is listed in expect.yaml;
#   - facteur.yaml, with its @PLACEHOLDERS@ filled in (examples/README.md),
#     passes `facteur check`;
#   - the expect file passes: facteur test --expect prints one TAP line per
#     message and exits 1 on any difference.
cd "$(dirname "$0")/../.." || exit 2
F=${FACTEUR:-./facteur}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"; rm -f examples/*/.check-*.yaml' EXIT

fill() {
	sed -e 's|@IMAP_URL@|imaps://127.0.0.1:993|g' \
	    -e 's|@SMTP_URL@|smtps://127.0.0.1:465|g' \
	    -e "s|@CA_FILE@|$tmp/ca.pem|g" \
	    -e "s|@STATE@|$tmp/state.db|g" "$1"
}

for d in examples/*/; do
	d=${d%/}
	[ "$d" = examples/demo ] && continue
	for f in facteur.yaml rules.yaml expect.yaml README.md; do
		if [ -f "$d/$f" ]; then
			echo "ok - examples: $d/$f exists"
		else
			echo "not ok - examples: $d/$f is missing"
		fi
	done
	for m in "$d"/messages/*.eml; do
		[ -f "$m" ] || { echo "not ok - examples: $d has no messages"; break; }
		if grep -q "file: messages/${m##*/}\$" "$d/expect.yaml"; then
			echo "ok - examples: ${m} is in expect.yaml"
		else
			echo "not ok - examples: ${m} is not in expect.yaml"
		fi
	done
	[ -f "$d/facteur.yaml" ] || continue
	# Filled in next to the original, so its relative paths still hold.
	cfg=$(mktemp "$d/.check-XXXXXX.yaml")
	fill "$d/facteur.yaml" >"$cfg"
	if grep -q '@[A-Z_]*@' "$cfg"; then
		echo "not ok - examples: $d/facteur.yaml has an undocumented placeholder"
		grep -n '@[A-Z_]*@' "$cfg" | sed 's/^/# /'
	fi
	"$F" check -c "$cfg" >"$tmp/out" 2>&1
	rc=$?
	if [ $rc -eq 0 ]; then
		echo "ok - examples: $d/facteur.yaml passes facteur check"
	else
		echo "not ok - examples: $d/facteur.yaml: facteur check exits $rc"
		sed 's/^/# /' "$tmp/out"
	fi
	rm -f "$cfg"
done

# A placeholder left in place is an error (the check above can fail).
printf 'accounts:\n  - name: x\n    url: @IMAP_URL@\n' >"$tmp/raw.yaml"
"$F" check -c "$tmp/raw.yaml" >/dev/null 2>&1
rc=$?
if [ $rc -eq 78 ]; then
	echo "ok - examples: an unfilled placeholder fails facteur check"
else
	echo "not ok - examples: an unfilled placeholder: facteur check exits $rc"
fi

for e in examples/*/expect.yaml; do
	[ -f "$e" ] || continue
	echo "# $e"
	"$F" test --expect "$e"
	rc=$?
	if [ $rc -eq 0 ]; then
		echo "ok - examples: $e passes"
	else
		echo "not ok - examples: $e exits $rc"
	fi
done
