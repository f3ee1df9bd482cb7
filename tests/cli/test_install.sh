#!/bin/sh
# make install DESTDIR=$tmp PREFIX=/usr puts every file in place with sane
# modes; the units pass systemd-analyze verify; the sysusers and tmpfiles
# snippets work on a scratch root; the bash completion parses and offers
# the commands.
#
# systemd-analyze verify checks that ExecStart's program exists, so it
# runs on copies of the installed units whose /usr/bin/facteur is
# rewritten to the DESTDIR binary; MANPATH points at the installed man
# pages so the units' Documentation= resolves. No running systemd is
# needed (this works in a container).
cd "$(dirname "$0")/../.." || exit 2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0

ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); echo "not ok $n - $1"; }
check() { if eval "$2"; then ok "$1"; else notok "$1"; fi; }

dest=$tmp/dest
make -s install DESTDIR="$dest" PREFIX=/usr >"$tmp/out" 2>&1; rc=$?
check "make install DESTDIR PREFIX=/usr exits 0" '[ $rc -eq 0 ]'
[ $rc -eq 0 ] || sed 's/^/# /' "$tmp/out"
check "nothing outside PREFIX" '[ "$(ls -A "$dest")" = usr ]'

u=$dest/usr
# path mode
while read -r f mode; do
	check "$f installed, mode $mode" \
	    '[ -f "$u/$f" ] && [ "$(stat -c %a "$u/$f")" = "$mode" ]'
done <<LIST
bin/facteur 755
share/man/man1/facteur.1 644
share/man/man5/facteur.yaml.5 644
share/facteur/rules/ignore-automatic.yaml 644
share/facteur/rules/spam.yaml 644
share/facteur/rules/README.md 644
share/facteur/examples/facteur.yaml 644
share/facteur/examples/README.md 644
share/facteur/examples/orders/rules.yaml 644
share/facteur/examples/orders/expect.yaml 644
share/facteur/examples/orders/bin/record-order 755
share/facteur/examples/commands/bin/deploy 755
share/facteur/examples/autoresponder/rules.yaml 644
share/facteur/examples/sorting/rules.yaml 644
share/facteur/examples/mta/rules.yaml 644
share/doc/facteur/README.md 644
lib/systemd/system/facteur.service 644
lib/systemd/system/facteur@.service 644
lib/sysusers.d/facteur.conf 644
lib/tmpfiles.d/facteur.conf 644
share/bash-completion/completions/facteur 644
LIST
bad=$(find "$dest" -perm /022 ! -type l)
check "no file is group- or world-writable" '[ -z "$bad" ]'

check "installed binary runs" '"$u/bin/facteur" --version | grep -q "^facteur "'
# The installed examples pass their own expect files where they landed
# (their rule paths reach ../../rules, the installed shipped rules).
for e in orders autoresponder sorting commands mta; do
	"$u/bin/facteur" test --expect "$u/share/facteur/examples/$e/expect.yaml" \
	    >"$tmp/exp" 2>&1; rc=$?
	check "installed example $e passes its expect file" '[ $rc -eq 0 ]'
done
"$u/bin/facteur" check -r "$u/share/facteur/rules/ignore-automatic.yaml" \
    -r "$u/share/facteur/rules/spam.yaml" >/dev/null 2>&1; rc=$?
check "installed shipped rules load" '[ $rc -eq 0 ]'
# The example config reaches the installed rules and examples.
"$u/bin/facteur" check -c "$u/share/facteur/examples/facteur.yaml" \
    >"$tmp/chk" 2>&1; rc=$?
check "installed example config passes facteur check" '[ $rc -eq 0 ]'
[ $rc -eq 0 ] || sed 's/^/# /' "$tmp/chk"

svc=$u/lib/systemd/system/facteur.service
check "unit runs /usr/bin/facteur run -c /etc/facteur/facteur.yaml" \
    'grep -qx "ExecStart=/usr/bin/facteur run -c /etc/facteur/facteur.yaml" "$svc"'
check "no @BINDIR@ left in the units" '! grep -q @BINDIR@ "$u"/lib/systemd/system/*'
for k in "ProtectSystem=strict" "ProtectHome=yes" "PrivateTmp=yes" \
    "StateDirectory=facteur" "ConfigurationDirectory=facteur" \
    "NoNewPrivileges=yes" "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX" \
    "CapabilityBoundingSet=" "SystemCallFilter=@system-service" \
    'ExecReload=/bin/kill -HUP $MAINPID' "Restart=on-failure" "User=facteur"; do
	check "facteur.service has $k" 'grep -qxF "$k" "$svc"'
done

if command -v systemd-analyze >/dev/null 2>&1; then
	mkdir -p "$tmp/verify"
	for unit in facteur.service facteur@.service; do
		sed "s|/usr/bin/facteur|$u/bin/facteur|g" \
		    "$u/lib/systemd/system/$unit" >"$tmp/verify/$unit"
	done
	# A template is verified through an instance of it.
	cp "$tmp/verify/facteur@.service" "$tmp/verify/facteur@example.service"
	for unit in facteur.service facteur@example.service; do
		MANPATH=$u/share/man systemd-analyze verify \
		    "$tmp/verify/$unit" >"$tmp/v" 2>&1; rc=$?
		check "systemd-analyze verify $unit: clean" \
		    '[ $rc -eq 0 ] && ! grep -q "$unit" "$tmp/v"'
		[ -s "$tmp/v" ] && sed 's/^/# /' "$tmp/v"
	done
	# The check can fail: an unknown key is reported.
	printf 'Bogus=1\n' >>"$tmp/verify/facteur.service"
	MANPATH=$u/share/man systemd-analyze verify \
	    "$tmp/verify/facteur.service" >"$tmp/v" 2>&1
	check "systemd-analyze verify reports a bad key" 'grep -q Bogus "$tmp/v"'
else
	notok "systemd-analyze is installed (tests/deps.sh installs systemd)"
fi

if command -v systemd-sysusers >/dev/null 2>&1 &&
    command -v systemd-tmpfiles >/dev/null 2>&1; then
	root=$tmp/root
	mkdir -p "$root/etc"
	systemd-sysusers --root="$root" "$u/lib/sysusers.d/facteur.conf" \
	    >/dev/null 2>&1; rc=$?
	check "sysusers snippet makes the user facteur" \
	    '[ $rc -eq 0 ] && grep -q "^facteur:x:[0-9]*:[0-9]*:.*:/var/lib/facteur:/usr/sbin/nologin$" "$root/etc/passwd"'
	uid=$(sed -n 's/^facteur:x:\([0-9]*\):.*/\1/p' "$root/etc/passwd")
	gid=$(sed -n 's/^facteur:x:\([0-9]*\):.*/\1/p' "$root/etc/group")
	systemd-tmpfiles --root="$root" --create \
	    "$u/lib/tmpfiles.d/facteur.conf" >/dev/null 2>&1; rc=$?
	check "tmpfiles: /var/lib/facteur 750 facteur:facteur" \
	    '[ $rc -eq 0 ] && [ "$(stat -c %a:%u:%g "$root/var/lib/facteur")" = "750:$uid:$gid" ]'
	check "tmpfiles: /etc/facteur 750 root:facteur" \
	    '[ "$(stat -c %a:%u:%g "$root/etc/facteur")" = "750:0:$gid" ]'
fi

comp=$u/share/bash-completion/completions/facteur
check "bash -n on the completion" 'bash -n "$comp"'
complete_words() {
	# complete_words WORD... : what the completion offers for the last word
	bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1));
	    _facteur; printf "%s\n" "${COMPREPLY[@]}"' _ "$comp" "$@" | sort | tr '\n' ' '
}
got=$(complete_words facteur "")
check "completion offers the commands (got: $got)" \
    '[ "$got" = "--help --version check deliver help parse run state test " ]'
got=$(complete_words facteur ru)
check "completion completes 'ru' to run" '[ "$got" = "run " ]'
got=$(complete_words facteur run --)
check "completion offers run's options" \
    '[ "$got" = "--config --help --log --once --syslog --verbose " ]'
got=$(complete_words facteur run --log "")
check "completion offers --log values" '[ "$got" = "json text " ]'
got=$(complete_words facteur help "")
check "completion after help offers the commands" \
    '[ "$got" = "check deliver help parse run state test " ]'
got=$(complete_words facteur state "")
check "completion offers state's subcommands" \
    '[ "$got" = "accounts failed forget list pending retry show " ]'
got=$(cd "$u/share/facteur/examples/orders" && complete_words facteur test -r "")
check "completion offers YAML files and directories after -r (got: $got)" \
    '[ "$got" = "bin expect.yaml facteur.yaml messages rules.yaml " ]'

sh install.sh "$tmp/rel" relative/prefix >/dev/null 2>"$tmp/err"; rc=$?
check "install.sh refuses a relative PREFIX" \
    '[ $rc -eq 64 ] && grep -q "absolute" "$tmp/err" && [ ! -e "$tmp/rel" ]'
echo "1..$n"
