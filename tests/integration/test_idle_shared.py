#!/usr/bin/env python3
"""Many accounts in IDLE in one daemon, their logins on one libcurl multi.

The daemon logs every IMAP account in through one shared multi handle, and
each logged-in connection stays in that handle's connection cache while it
waits in IDLE. libcurl closes connections of its cache that it takes for
idle and dead when a new transfer starts there; none of the accounts' must
be. Ten accounts wait in IDLE while two more fail to log in again and again
(a wrong password; a server certificate the account's CAs do not know).
The daemon is stopped (SIGSTOP), mail is delivered to every account, and
once Dovecot's `* N EXISTS` waits unread in each of the ten sockets, the
daemon goes on; the two failing accounts, due by then and first in the
config, start their logins before the ten read their news. Every message
must be processed on the connection it was announced on: no account logs
in twice. Also: one descriptor per account (not three), the errors of the
failing logins as before, a CAPABILITY line of almost 2 KiB before login
(libcurl's receive buffer for logins is 4 KiB; lines over half of it are
cut), and, under valgrind, no leak and no memory error."""
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Harness, Tap, wait_until, _valgrind_suppressions  # noqa
from fakeimap import FakeImap  # noqa: E402

N = 10
USERS = ['s%02d' % i for i in range(1, N + 1)]

RULES = '''rules:
  - name: mark
    if: {subject: '^note '}
    then:
      - flag: {add: [noted]}
'''


def message(user, n):
    return ('From: bob@example.test\r\nTo: %s@example.test\r\n'
            'Subject: note %d\r\nMessage-ID: <shared-%s-%d@example.test>\r\n'
            '\r\nhello\r\n' % (user, n, user, n)).encode()


def account(name, h, user, password, ca=True, url=None):
    return '''  - name: %s
    url: %s
    user: %s
    password: %s
%s    watch: idle
    poll: 3600s
    rules: [%s]
''' % (name, url or 'imaps://127.0.0.1:%d/INBOX' % h.ports['imaps'], user,
       password, '    ca_file: %s\n' % h.ca_file if ca else '',
       os.path.join(h.tmp, 'facteur', 'rules.yaml'))


class Daemon:
    """facteur run -v under valgrind, its stderr in a file."""

    def __init__(self, h, cfg):
        exe = os.path.abspath(os.environ.get('FACTEUR') or './facteur')
        self.logpath = os.path.join(h.tmp, 'facteur', 'shared.log')
        self.vlog = self.logpath + '.valgrind'
        argv = ['valgrind', '-q', '--leak-check=full',
                '--show-leak-kinds=definite',
                '--errors-for-leak-kinds=definite',
                '--error-exitcode=99', '--log-file=' + self.vlog] + \
            ['--suppressions=' + s for s in _valgrind_suppressions()] + \
            [exe, 'run', '-v', '-c', cfg]
        self.err = open(self.logpath, 'wb')
        self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=self.err,
                                  cwd=h.tmp, start_new_session=True)
        h._record_pgid(self.p.pid)

    def text(self):
        with open(self.logpath, errors='replace') as f:
            return f.read()

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGCONT)
            self.p.send_signal(signal.SIGTERM)
        try:
            rc = self.p.wait(90)
        except subprocess.TimeoutExpired:
            os.killpg(self.p.pid, signal.SIGKILL)
            rc = self.p.wait()
        self.err.close()
        return rc


def idling(d):
    """The accounts that have sent IDLE."""
    return set(re.findall(r'^facteur: (s\d\d): > \S+ IDLE$', d.text(), re.M))


def connections(pid, port):
    """(Recv-Q) of each ESTABLISHED connection of pid to port."""
    r = subprocess.run(['ss', '-tnpH', 'state', 'established',
                        'dport = :%d' % port],
                       capture_output=True, text=True, check=True)
    return [int(l.split()[0]) for l in r.stdout.splitlines()
            if 'pid=%d,' % pid in l]


def sockets(pid):
    """How many sockets pid holds open (valgrind's own files aside)."""
    n = 0
    for fd in os.listdir('/proc/%d/fd' % pid):
        try:
            n += os.readlink('/proc/%d/fd/%s' % (pid, fd)).startswith(
                'socket:')
        except OSError:
            pass
    return n


def ports(pid, port):
    """The local ports of pid's ESTABLISHED connections to port."""
    r = subprocess.run(['ss', '-tnpH', 'state', 'established',
                        'dport = :%d' % port],
                       capture_output=True, text=True, check=True)
    return sorted(int(l.split()[2].rsplit(':', 1)[1])
                  for l in r.stdout.splitlines() if 'pid=%d,' % pid in l)


def failures(d, name):
    return re.findall(r'^facteur: warn: %s: connecting: (.*); retrying '
                      r'in (\d+) s$' % name, d.text(), re.M)


def noted(h, user):
    return [uid for uid, flags, _ in h.fetch_all(user) if 'noted' in flags]


def shared_multi(t, h):
    with open(os.path.join(h.tmp, 'facteur', 'rules.yaml'), 'w') as f:
        f.write(RULES)
    cfg = h.write_config(
        'state: %s/facteur/state.db\naccounts:\n' % h.tmp +
        account('wrongpw', h, 's01', 'not-the-password') +
        account('unknownca', h, 's02', 'secret', ca=False) +
        ''.join(account(u, h, u, 'secret') for u in USERS),
        name='shared.yaml')
    d = Daemon(h, cfg)
    try:
        run(t, h, d)
    finally:
        rc = d.stop()
    t.eq(rc, 0, 'SIGTERM: exit 0 (99: valgrind found a leak or an error)')
    with open(d.vlog, errors='replace') as f:
        report = f.read()
    t.ok('definitely lost' not in report and 'Invalid' not in report,
         'valgrind: no definite leak, no invalid access')
    if rc != 0:
        t.diag(report[-3000:])
        t.diag(d.text()[-3000:])


def run(t, h, d):
    got = wait_until(lambda: idling(d) >= set(USERS), timeout=90, step=0.2)
    t.ok(got, 'all %d accounts in IDLE' % N)
    if not got:
        t.diag('missing: %s' % sorted(set(USERS) - idling(d)))
        t.diag(d.text()[-3000:])
        return
    pid = d.p.pid
    conns = wait_until(lambda: len(connections(pid, h.ports['imaps'])) >= N,
                       timeout=10)
    t.ok(conns and sockets(pid) < 2 * N, 'one socket per account: %d open '
         'for %d connections (a multi handle each took three)'
         % (sockets(pid), N))

    # Both failing accounts have failed once; the next attempts are due
    # within their backoff (the first is 5 s, plus up to a quarter).
    wait_until(lambda: failures(d, 'wrongpw') and failures(d, 'unknownca'),
               timeout=60, step=0.2)
    before = len(failures(d, 'wrongpw')) + len(failures(d, 'unknownca'))
    wait_s = max([int(s) for _, s in failures(d, 'wrongpw') +
                  failures(d, 'unknownca')][-2:])
    t.ok(all(re.search(r'Login denied', c) for c, _ in
             failures(d, 'wrongpw')),
         'a wrong password: "Login denied", as before')
    t.ok(all(re.search(r'certificate', c, re.I) for c, _ in
             failures(d, 'unknownca')),
         'an unknown CA: a certificate error, as before')

    first = ports(pid, h.ports['imaps'])
    d.p.send_signal(signal.SIGSTOP)
    stopped = time.monotonic()
    for u in USERS:
        h.deliver(u, message(u, 1))
    # Dovecot announces the mail to every session in IDLE: wait until
    # every one of the ten connections has unread bytes.
    pending = wait_until(
        lambda: sum(1 for q in connections(pid, h.ports['imaps']) if q > 0)
        >= N, timeout=15, step=0.1)
    t.ok(pending, 'an EXISTS waits unread in each of the %d connections '
         'while the daemon is stopped' % N)
    # Keep it stopped until the failing accounts are due again.
    rest = stopped + wait_s * 1.25 + 1 - time.monotonic()
    if rest > 0:
        time.sleep(rest)
    d.p.send_signal(signal.SIGCONT)

    done = wait_until(lambda: all(noted(h, u) for u in USERS), timeout=60,
                      step=0.3)
    t.ok(done, 'every account processed its new mail after the daemon went '
         'on (%d of %d)' % (sum(1 for u in USERS if noted(h, u)), N))
    after = wait_until(
        lambda: len(failures(d, 'wrongpw')) +
        len(failures(d, 'unknownca')) > before, timeout=30, step=0.2)
    t.ok(after, 'the failing accounts tried to log in again meanwhile')
    # The failing accounts' attempts, to the same port, may be connected
    # at either moment, for milliseconds each: the ten connections are
    # those in both snapshots, seconds apart. An account that reconnected
    # would be on a new port and leave fewer than ten.
    now = ports(pid, h.ports['imaps'])
    t.eq(len(set(first) & set(now)), N,
         'no account lost its connection: the same %d connections' % N)
    if len(set(first) & set(now)) != N:
        t.diag('before: %r, now: %r' % (first, now))
    warned = [l for l in d.text().splitlines()
              if re.match(r'facteur: (warn|error): s\d\d: ', l)]
    t.eq(warned, [], 'no warning about the ten accounts')


def long_capability(t, h):
    """A CAPABILITY line of 1,900 bytes before login: its AUTH=PLAIN, at the
    end, is still seen, and the login goes through."""
    srv = FakeImap(h.cert_file, h.key_file, {1: message('bot', 1)})
    try:
        filler = ' '.join('X-FILLER-CAPABILITY-%04d' % i for i in range(73))
        srv.caps = 'IMAP4rev1 %s SASL-IR UIDPLUS AUTH=PLAIN' % filler
        t.ok(1850 < len('* CAPABILITY ' + srv.caps) < 2000,
             'the line is %d bytes' % len('* CAPABILITY ' + srv.caps))
        cfg = h.write_config(
            'state: %s/facteur/caps.db\naccounts:\n' % h.tmp +
            account('caps', h, 'bot', 'secret', url=srv.url()).replace(
                '    watch: idle\n', ''), name='caps.yaml')
        cp = h.facteur('run', '--once', '-c', cfg)
        t.eq(cp.returncode, 0, 'run --once: exit 0')
        if cp.returncode != 0:
            t.diag(cp.stderr[-2000:])
        t.ok(any('AUTHENTICATE PLAIN' in c for c in srv.commands),
             'logged in with AUTHENTICATE PLAIN')
        t.ok(any('STORE' in c and 'noted' in c for c in srv.commands),
             'the message was processed (flagged)')
    finally:
        srv.close()


def main():
    t = Tap()
    with Harness(users=USERS + ['bot'], smtp=False) as h:
        t.harness = h
        t.run('one multi handle for every login', shared_multi, t, h)
        t.run('a long CAPABILITY line before login', long_capability, t, h)
    t.done()


if __name__ == '__main__':
    main()
