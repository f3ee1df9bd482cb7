#!/bin/sh
# install.sh DESTDIR PREFIX: what `make install` puts in place.
#   PREFIX/bin/facteur
#   PREFIX/share/man/man1/facteur.1, man5/facteur.yaml.5
#   PREFIX/share/facteur/rules/            the shipped rules
#   PREFIX/share/facteur/examples/         facteur.yaml and the examples
#   PREFIX/share/doc/facteur/README.md
#   PREFIX/lib/systemd/system/facteur.service, facteur@.service
#   PREFIX/lib/sysusers.d/facteur.conf, PREFIX/lib/tmpfiles.d/facteur.conf
#   PREFIX/share/bash-completion/completions/facteur
# Nothing is written to /etc or /var: the units make their directories,
# and the config is copied by hand from the example.
set -eu
cd "$(dirname "$0")"
destdir=${1-}
prefix=${2:-/usr/local}
case $prefix in
/*) ;;
*) echo "install.sh: PREFIX must be an absolute path, not '$prefix'" >&2
   exit 64 ;;
esac
root=$destdir$prefix
bindir=$prefix/bin

if [ ! -x facteur ]; then
	echo "install.sh: ./facteur is not built (run make first)" >&2
	exit 66
fi

put() {
	# put MODE SRC DEST
	install -D -m "$1" "$2" "$root/$3"
}

put 0755 facteur bin/facteur
put 0644 man/facteur.1 share/man/man1/facteur.1
put 0644 man/facteur.yaml.5 share/man/man5/facteur.yaml.5

for f in rules/*.yaml rules/README.md; do
	put 0644 "$f" "share/facteur/$f"
done

put 0644 config/facteur.yaml share/facteur/examples/facteur.yaml
put 0644 examples/README.md share/facteur/examples/README.md
for d in orders autoresponder sorting commands mta; do
	find "examples/$d" -type f | sort | while read -r f; do
		mode=0644
		[ -x "$f" ] && mode=0755
		put "$mode" "$f" "share/facteur/$f"
	done
done
put 0644 README.md share/doc/facteur/README.md

for u in facteur.service facteur@.service; do
	install -d -m 0755 "$root/lib/systemd/system"
	sed "s|@BINDIR@|$bindir|g" "dist/$u" >"$root/lib/systemd/system/$u"
	chmod 0644 "$root/lib/systemd/system/$u"
done
put 0644 dist/facteur.sysusers lib/sysusers.d/facteur.conf
put 0644 dist/facteur.tmpfiles lib/tmpfiles.d/facteur.conf
put 0644 completion/facteur.bash share/bash-completion/completions/facteur

echo "installed facteur under $root"
