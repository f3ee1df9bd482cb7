#!/bin/sh
# Install every Debian package needed to build, test and demo facteur.
# Idempotent; run as root (CI does: it runs before the test suite).
#   - apt-get update runs only when a package is missing;
#   - a package whose postinst cannot start its service (no systemd,
#     policy-rc.d exit 101) does not make this script fail;
#   - no system-wide dovecot or exim daemon is left running: the integration
#     harness starts its own on private loopback ports, and a system one on
#     the standard ports would only confuse a test that gets a port wrong;
#   - the system user 'facteurtest' owns the test mailboxes (Dovecot refuses
#     to run mail processes as root).
set -u

packages="build-essential pkg-config make gcc libc6-dev
libcurl4-openssl-dev libpcre2-dev libyaml-dev libssl-dev libsqlite3-dev
libgmime-3.0-dev libxml2-dev libjansson-dev libcmocka-dev
dovecot-core dovecot-imapd dovecot-pop3d dovecot-lmtpd dovecot-submissiond
exim4-daemon-light openssl curl sqlite3 python3 valgrind ca-certificates
procps iproute2 passwd
mandoc man-db systemd bsdextrautils"

if [ "$(id -u)" -ne 0 ]; then
	echo "deps.sh: must run as root" >&2
	exit 1
fi

installed() {
	[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]
}

missing=""
for p in $packages; do
	installed "$p" || missing="$missing $p"
done

if [ -n "$missing" ]; then
	echo "deps.sh: installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	# Keep postinst scripts from starting services; restore the admin's
	# policy afterwards.  Debian's docker images already ship one (exit 101).
	policy=/usr/sbin/policy-rc.d
	ours=""
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy"
		chmod 755 "$policy"
		ours=1
	fi
	apt-get update -qq || echo "deps.sh: apt-get update failed" >&2
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends \
		-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
		$missing
	rc=$?
	if [ $rc -ne 0 ]; then
		# A postinst that failed to start a service leaves the package
		# half-configured: finish configuring, then judge by dpkg's state.
		dpkg --configure -a >/dev/null 2>&1 || true
	fi
	[ -n "$ours" ] && rm -f "$policy"
	still=""
	for p in $missing; do
		installed "$p" || still="$still $p"
	done
	if [ -n "$still" ]; then
		echo "deps.sh: could not install:$still" >&2
		exit 1
	fi
fi

# The mail owner for the harness's Dovecot (not root, no login, no home).
if ! getent passwd facteurtest >/dev/null; then
	useradd --system --user-group --no-create-home --home-dir /nonexistent \
		--shell /usr/sbin/nologin --comment "facteur test mail owner" \
		facteurtest || { echo "deps.sh: useradd facteurtest failed" >&2; exit 1; }
fi

# Stop system-wide daemons that a package may have started.  Only the
# system instances are stopped: their pid files are the system ones, and
# daemons started by the test harness keep their pid files in their own
# temp dirs.
stop_pidfile() {
	f=$1
	[ -s "$f" ] || return 0
	pid=$(head -n1 "$f" | tr -cd 0-9)
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null
	i=0
	while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
	return 0
}
if command -v service >/dev/null 2>&1; then
	service dovecot stop >/dev/null 2>&1 || true
	service exim4 stop >/dev/null 2>&1 || true
fi
stop_pidfile /run/dovecot/master.pid
stop_pidfile /run/exim4/exim.pid
# Keep them from coming back at boot on machines that have an init system.
if command -v update-rc.d >/dev/null 2>&1; then
	update-rc.d dovecot disable >/dev/null 2>&1 || true
	update-rc.d exim4 disable >/dev/null 2>&1 || true
fi
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
	systemctl disable --now dovecot.service dovecot.socket exim4.service \
		>/dev/null 2>&1 || true
fi

echo "deps.sh: all packages present"
exit 0
