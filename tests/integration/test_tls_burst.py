#!/usr/bin/env python3
"""Several TLS records in one read: nothing is left waiting in the TLS layer.

Once logged in, facteur's IMAP and POP3 connections read through a buffer
under OpenSSL: one receive call takes every record the socket holds, so
records can wait in the TLS layer that a wait on the socket no longer
sees. Every wait must come after the TLS layer is emptied, or a message
sits unnoticed until the next refresh (4 minutes in IDLE).

- run --once over IMAPS and POP3S (under valgrind) of messages from 1 KB to
  300 KB, so that reads span many records: every message journaled, saved
  byte for byte as the server holds it.
- The daemon in IDLE on Dovecot: another session flags every message with
  long keywords and appends five more, so that Dovecot pushes one burst of
  many records (300 FETCH responses, about 30 KB, then EXISTS last); the
  five are processed within seconds.
- A scripted server (Dovecot writes both lines in one record) answers the
  IDLE command with "+ idling" and "* 2 EXISTS" as two TLS records in one
  TCP segment (TCP_CORK): the EXISTS is read with the "+" and must be
  acted on at once.
- The same server sends "+ idling" alone, waits until facteur has read it
  (its socket's receive queue is empty), then pushes a FETCH and an
  EXISTS as two records in one segment: facteur, waiting in IDLE, must
  take both, not only the first.
"""
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Harness, Tap, wait_until  # noqa: E402
from fakeimap import FakeImap  # noqa: E402

SAVE_RULES = '''rules:
  - name: keep-a-copy
    then:
      - save: {maildir: %s}
'''

NO_RULES = '''rules:
  - name: nothing
    if: {subject: '^never matches$'}
    then:
      - flag: {add: [never]}
'''


def message(tag, n, size=0):
    """A message of about size bytes; lines of 76 characters."""
    head = ('From: bob@example.test\r\nTo: bot@example.test\r\n'
            'Subject: %s %d\r\nMessage-ID: <%s-%d@example.test>\r\n\r\n'
            % (tag, n, tag, n)).encode()
    line = (('%s %d ' % (tag, n)) * 20)[:76].encode() + b'\r\n'
    return head + line * max(1, size // len(line))


def done_keys(state):
    """Journal keys of the messages processed to the end."""
    if not os.path.exists(state):
        return []
    db = sqlite3.connect(state, timeout=5)
    try:
        return [r[0] for r in db.execute(
            'SELECT key FROM message WHERE status = 2 ORDER BY id')]
    except sqlite3.OperationalError:
        return []
    finally:
        db.close()


def saved(maildir):
    """The bytes of every message saved in maildir/new."""
    d = os.path.join(maildir, 'new')
    if not os.path.isdir(d):
        return []
    out = []
    for name in os.listdir(d):
        with open(os.path.join(d, name), 'rb') as f:
            out.append(f.read())
    return out


def account(h, name, url, state, rules, extra=''):
    return h.write_config('''state: %s
accounts:
  - name: %s
    url: %s
    user: bot
    password: secret
    ca_file: %s
    after: keep
    rules: [%s]
%s''' % (state, name, url, h.ca_file, rules, extra), name=name + '.yaml')


def test_once(t, h, proto):
    """run --once under valgrind over proto: all of a large burst, exact."""
    base = os.path.join(h.tmp, 'facteur', proto)
    os.makedirs(base)
    rules = os.path.join(base, 'rules.yaml')
    with open(rules, 'w') as f:
        f.write(SAVE_RULES % os.path.join(base, 'saved'))
    state = os.path.join(base, 'state.db')
    cfg = account(h, proto, h.url(proto), state, rules)
    cp = h.facteur('run', '--once', '-c', cfg, valgrind=True)
    t.ok(cp.returncode == 0, '%s: run --once under valgrind exits 0 (no '
         'leak, no memory error)' % proto, 'exit %d\n%s%s' % (
             cp.returncode, cp.stderr[-2000:],
             (getattr(cp, 'valgrind', '') or '')[-3000:]))
    want = sorted(raw for _, _, raw in h.fetch_all('bot'))
    t.eq(len(done_keys(state)), len(want), '%s: every message journaled '
         'once, done' % proto)
    got = sorted(saved(os.path.join(base, 'saved')))
    t.eq(len(got), len(want), '%s: every message saved' % proto)
    t.ok(got == want, '%s: each saved byte for byte as the server holds '
         'it' % proto)


def start_daemon(h, cfg, logname):
    exe = os.path.abspath(os.environ.get('FACTEUR') or './facteur')
    log = open(os.path.join(h.tmp, 'facteur', logname), 'w+')
    p = subprocess.Popen([exe, 'run', '-v', '-c', cfg], stdout=log,
                         stderr=subprocess.STDOUT, cwd=h.tmp,
                         start_new_session=True)
    h._record_pgid(p.pid)
    return p, log


def stop_daemon(p):
    p.send_signal(signal.SIGTERM)
    try:
        return p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        return 'timeout'


def idles(log):
    log.seek(0)
    return len(re.findall(r'> F\d+ IDLE', log.read()))


def test_idle_burst(t, h):
    """Dovecot pushes many records at once in IDLE; EXISTS is in the last."""
    old = 300
    h.deliver_many('alice', [message('old', i) for i in range(old)])
    base = os.path.join(h.tmp, 'facteur', 'burst')
    os.makedirs(base)
    rules = os.path.join(base, 'rules.yaml')
    with open(rules, 'w') as f:
        f.write(NO_RULES)
    state = os.path.join(base, 'state.db')
    cfg = h.write_config('''state: %s
accounts:
  - name: burst
    url: %s
    user: alice
    password: secret
    ca_file: %s
    after: keep
    watch: idle
    poll: 3600s
    rules: [%s]
''' % (state, h.url('imaps'), h.ca_file, rules), name='burst.yaml')
    p, log = start_daemon(h, cfg, 'burst.log')
    try:
        ready = wait_until(lambda: len(done_keys(state)) == old and
                           idles(log) >= 1, timeout=30)
        t.ok(ready, 'IDLE: the %d old messages processed, then IDLE' % old)
        # Keywords make each FETCH response about 100 bytes: some 30 KB,
        # many TLS records, sent in one go after Dovecot's notify delay
        # (the store and the append fall within its 500 ms).
        m = h.imap('alice', tls='ssl')
        m.select('INBOX')
        m.store('1:*', '+FLAGS', '(\\Flagged $Burst1 $Burst2 $Burst3 '
                '$Burst4 $Burst5 $Burst6 $Burst7 $Burst8)')
        for i in range(5):
            m.append('INBOX', None, None, message('new', i))
        t0 = time.monotonic()
        m.logout()
        got = wait_until(lambda: len(done_keys(state)) == old + 5,
                         timeout=15)
        t.ok(got, 'IDLE: the five messages announced at the end of the '
             'burst are processed within 15 s (the refresh is 4 minutes)',
             'journal: %d done' % len(done_keys(state)))
        if got:
            t.diag('burst -> five journaled: %.0f ms (Dovecot waits '
                   '500 ms before it tells)' % ((time.monotonic() - t0)
                                                * 1000))
    finally:
        rc = stop_daemon(p)
    t.eq(rc, 0, 'IDLE: SIGTERM ends the daemon with status 0')
    t.eq(len(done_keys(state)), old + 5, 'IDLE: each message journaled once')
    if t.failed:
        log.seek(0)
        t.diag(log.read()[-3000:])


def unread(client_port, server_port):
    """Bytes in the receive queue of the client's end of a loopback TCP
    connection (/proc/net/tcp), None when it is not there."""
    with open('/proc/net/tcp') as f:
        next(f)
        for line in f:
            v = line.split()
            if (int(v[1].split(':')[1], 16) == client_port and
                    int(v[2].split(':')[1], 16) == server_port):
                return int(v[4].split(':')[1], 16)
    return None


class _Corked:
    """The server's TLS socket. At the first IDLE, two TLS records leave
    held back into one TCP segment (TCP_CORK): with mode 'start',
    "+ idling" and "* 2 EXISTS"; with mode 'push', "+ idling" goes alone,
    and once the client has read it (nothing left in its receive queue)
    "* 1 FETCH (FLAGS (\\Seen))" and "* 2 EXISTS" follow."""

    def __init__(self, server, s):
        self._server = server
        self._s = s

    def __getattr__(self, name):
        return getattr(self._s, name)

    def _together(self, *records):
        self._s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
        try:
            for r in records:
                self._s.sendall(r)
        finally:
            self._s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 0)

    def sendall(self, data):
        if data != b'+ idling\r\n' or self._server.idles != 1:
            return self._s.sendall(data)
        if self._server.mode == 'start':
            return self._together(data, b'* 2 EXISTS\r\n')
        self._s.sendall(data)
        ports = (self._s.getpeername()[1], self._s.getsockname()[1])
        self._server.read_plus = wait_until(
            lambda: unread(*ports) == 0, timeout=10, step=0.001)
        return self._together(b'* 1 FETCH (FLAGS (\\Seen))\r\n',
                              b'* 2 EXISTS\r\n')


class CorkedIdle(FakeImap):
    def __init__(self, mode, *args, **kw):
        super().__init__(*args, **kw)
        self.mode = mode
        self.read_plus = None

    def _session(self, s):
        return super()._session(_Corked(self, s))


def test_corked(t, h, mode, what):
    """Two records in one segment at the first IDLE (see _Corked)."""
    with CorkedIdle(mode, h.cert_file, h.key_file,
                    {1: message('first', 1)}, idle=True) as srv:
        def on_idle(server):
            if server.idles == 0:
                server.messages[2] = message('second', 2)
            return b''
        srv.on_idle = on_idle
        base = os.path.join(h.tmp, 'facteur', 'corked-' + mode)
        os.makedirs(base)
        rules = os.path.join(base, 'rules.yaml')
        with open(rules, 'w') as f:
            f.write(NO_RULES)
        state = os.path.join(base, 'state.db')
        cfg = account(h, 'corked-' + mode, srv.url(), state, rules,
                      '    watch: idle\n    poll: 3600s\n')
        p, log = start_daemon(h, cfg, 'corked-%s.log' % mode)
        try:
            got = wait_until(lambda: len(done_keys(state)) == 2,
                             timeout=10)
        finally:
            rc = stop_daemon(p)
        if mode == 'push':
            t.ok(srv.read_plus, '%s: the client read "+ idling" before '
                 'the two records were sent' % what)
        t.ok(got, '%s: the EXISTS is acted on at once' % what,
             'journal: %r' % done_keys(state))
        t.eq(done_keys(state), ['42/1', '42/2'], '%s: both messages '
             'journaled once, in order' % what)
        t.ok(srv.idles >= 2 and 'DONE' in srv.commands, '%s: DONE, a '
             'sync, then IDLE again (%d IDLE commands)' % (what, srv.idles))
        t.eq(rc, 0, '%s: SIGTERM ends the daemon with status 0' % what)
        if t.failed:
            log.seek(0)
            t.diag(log.read()[-3000:])


def main():
    t = Tap()
    with Harness(smtp=False) as h:
        t.harness = h
        sizes = [1000, 300000, 4000, 150000, 70000, 20000, 9000, 120000]
        h.deliver_many('bot', [message('size', i, sizes[i % len(sizes)])
                               for i in range(24)])
        t.run('run --once over IMAPS', test_once, t, h, 'imaps')
        t.run('run --once over POP3S', test_once, t, h, 'pop3s')
        t.run('IDLE: a burst of records', test_idle_burst, t, h)
        t.run('IDLE: records read with the "+"', test_corked, t, h,
              'start', 'IDLE start')
        t.run('IDLE: records pushed together', test_corked, t, h,
              'push', 'IDLE push')
    t.done()


if __name__ == '__main__':
    main()
