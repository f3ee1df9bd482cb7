#!/usr/bin/env python3
"""The POP3 source against the harness's Dovecot: pop3:// (STARTTLS
required) and pop3s://. Each message is answered once (the reply is read
back from the sender's mailbox over IMAP), a second pass answers nothing,
`after: delete` empties the maildrop and `after: keep` leaves it whole.
A message with a dot-stuffed line must reach the rules byte-exact, and
so must every message of a longer session whose RETRs are pipelined.
Against a server that does not announce PIPELINING (a small scripted
one: Dovecot always does), each command waits for the previous reply."""
import email
import email.policy
import hashlib
import os
import re
import select
import socket
import sqlite3
import ssl
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Harness, Tap  # noqa: E402

RULES = r'''rules:
  - name: order-received
    if:
      all:
        - from: '@example\.test$'
        - subject: 'Order #(?<order>[0-9]{6,})'
    then:
      - reply:
          body: "We received order {{order}}."
    stop: true
  - name: dotted
    if:
      all:
        - subject: 'Dotted'
        - body: '(?m)^\.hidden ref (?<ref>[0-9]+)'
    then:
      - reply:
          body: "Dotted line seen, ref {{ref}}."
'''


def message(sender, subject, mid, body='Hello.\r\n'):
    return ('From: %s <%s@example.test>\r\n'
            'To: desk@example.test\r\n'
            'Subject: %s\r\n'
            'Message-ID: <%s@example.test>\r\n'
            'Date: Sun, 22 Nov 2026 09:12:00 +0100\r\n'
            '\r\n%s' % (sender.capitalize(), sender, subject, mid,
                        body)).encode()


def config(h, rules, name, url, user, after):
    return h.write_config('''state: %(tmp)s/facteur/%(name)s.db
smtp:
  url: smtp://127.0.0.1:%(smtp)d
  user: bot
  password: secret
  from: "Desk <bot@example.test>"
  ca_file: %(ca)s
accounts:
  - name: %(name)s
    url: %(url)s
    user: %(user)s
    password: secret
    ca_file: %(ca)s
    after: %(after)s
    addresses: [%(user)s@example.test]
    rules: [%(rules)s]
''' % dict(tmp=h.tmp, smtp=h.ports['smtp'], ca=h.ca_file, name=name,
           url=url, user=user, after=after, rules=rules),
        name=name + '.yaml')


def replies(h):
    """Messages Exim accepted whose Message-ID facteur made."""
    return len(re.findall(r'<= .* id=facteur\.', h.log('smtp')))


def subjects(h, user):
    return sorted(str(email.message_from_bytes(
        raw, policy=email.policy.default)['Subject'])
        for _, _, raw in h.fetch_all(user))


def pop3_sessions(h, user):
    """[(retr, dele)] of every POP3 session of user, from Dovecot's log."""
    return [(int(m.group(1)), int(m.group(2))) for m in re.finditer(
        r'pop3\(%s\)<.*retr=(\d+)/\d+, del=(\d+)/' % user, h.log('dovecot'))]


def pop3_count(h, user, tls):
    c = h.pop3(user, tls=tls)
    try:
        return c.stat()[0]
    finally:
        c.quit()


def test_delete(t, h, rules):
    """pop3:// with STARTTLS, after: delete."""
    h.deliver('carol', message('alice', 'Order #100001', 'o1'))
    h.deliver('carol', message('alice', 'Order #100002', 'o2'))
    h.deliver('carol', message('bob', 'Opening hours?', 'q1'))
    cfg = config(h, rules, 'popdel', h.url('pop3'), 'carol', 'delete')
    before = replies(h)
    cp = h.facteur('run', '--once', '-c', cfg)
    t.eq(cp.returncode, 0, 'pop3://: first run exits 0')
    if cp.returncode != 0:
        t.diag(cp.stderr[-3000:])
    t.eq(replies(h) - before, 2, 'pop3://: one reply per order')
    t.ok(re.search(r'^facteur: popdel: INBOX: \S+: <o1@example\.test>: '
                   r'matched order-received; reply=done; done '
                   r'\(journal #\d+\)$', cp.stderr, re.M),
         'log: one line names account, INBOX, UIDL, Message-ID, rule, '
         'action outcome and status', cp.stderr)
    t.ok(re.search(r'^facteur: popdel: INBOX: \S+: <q1@example\.test>: '
                   r'matched nothing; no action; done \(journal #\d+\)$',
                   cp.stderr, re.M),
         'log: a message no rule matched', cp.stderr)
    t.ok(not re.search(r'\bsecret\b', cp.stderr), 'log: no password')
    h.wait_for_messages('alice', 2)
    t.eq(subjects(h, 'alice'), ['Re: Order #100001', 'Re: Order #100002'],
         'pop3://: the replies read back over IMAP')
    t.eq(pop3_count(h, 'carol', 'starttls'), 0,
         'after: delete empties the maildrop (POP3 STAT)')
    t.eq(h.count('carol'), 0, 'after: delete: IMAP agrees')
    cp = h.facteur('run', '--once', '-c', cfg)
    t.eq(cp.returncode, 0, 'pop3://: second run exits 0')
    t.eq(replies(h) - before, 2, 'pop3://: second run sends nothing')
    # An action that cannot finish keeps the message on the server.
    h.deliver('carol', message('alice', 'Order #100003', 'o3'))
    h.stop_smtp()
    try:
        cp = h.facteur('run', '--once', '-c', cfg)
    finally:
        h.start_smtp()
    t.ok(cp.returncode in (0, 75), 'pop3://: SMTP down: run ends normally',
         cp.stderr)
    t.ok(re.search(r'^facteur: popdel: INBOX: \S+: <o3@example\.test>: '
                   r'matched order-received; reply=retry\(1\); pending '
                   r'\(journal #\d+\)$', cp.stderr, re.M),
         'the message is reported pending, the reply to be retried',
         cp.stderr)
    t.eq(pop3_count(h, 'carol', 'starttls'), 1,
         'after: delete: a pending message is not deleted')
    t.eq(replies(h) - before, 2, 'and no reply went out')
    t.ok((3, 3) in pop3_sessions(h, 'carol'), 'one POP3 session did the '
         'three RETRs and three DELEs (one connection)',
         repr(pop3_sessions(h, 'carol')))
    logins = re.findall(r'pop3-login: Info: Login: user=<carol>.*',
                        h.log('dovecot'))
    t.ok(logins and all(', TLS,' in l for l in logins),
         'every pop3:// login went through STARTTLS', '\n'.join(logins))


def test_keep(t, h, rules):
    """pop3s://, after: keep; a dot-stuffed line; a later message."""
    dotted = message('bob', 'Dotted', 'd1',
                     'first\r\n.hidden ref 4242\r\n..two dots\r\n.\r\n')
    h.deliver('dave', message('bob', 'Order #200001', 'k1'))
    h.deliver('dave', dotted)
    h.deliver('dave', message('alice', 'Not an order', 'k2'))
    cfg = config(h, rules, 'popkeep', h.url('pop3s'), 'dave', 'keep')
    before = replies(h)
    cp = h.facteur('run', '--once', '-c', cfg)
    t.eq(cp.returncode, 0, 'pop3s://: first run exits 0')
    if cp.returncode != 0:
        t.diag(cp.stderr[-3000:])
    t.eq(replies(h) - before, 2, 'pop3s://: the order and the dotted '
         'message are answered')
    h.wait_for_messages('bob', 2)
    t.eq(subjects(h, 'bob'), ['Re: Dotted', 'Re: Order #200001'],
         'pop3s://: the replies read back over IMAP')
    bodies = [email.message_from_bytes(raw, policy=email.policy.default)
              .get_content().strip() for _, _, raw in h.fetch_all('bob')]
    t.ok('Dotted line seen, ref 4242.' in bodies,
         'RETR is dot-unstuffed: the rule saw ".hidden ref 4242"',
         repr(bodies))
    t.eq(pop3_count(h, 'dave', 'ssl'), 3, 'after: keep keeps everything')
    stored = [raw for _, _, raw in h.fetch_all('dave')]
    t.ok(dotted in stored, 'the server copy is untouched')
    cp = h.facteur('run', '--once', '-c', cfg)
    t.eq(cp.returncode, 0, 'pop3s://: second run exits 0')
    t.eq(replies(h) - before, 2, 'pop3s://: second run sends nothing')
    t.ok(' done ' not in cp.stderr, 'second run processes no message',
         cp.stderr)
    h.deliver('dave', message('bob', 'Order #200002', 'k3'))
    cp = h.facteur('run', '--once', '-c', cfg)
    t.eq(cp.returncode, 0, 'pop3s://: third run exits 0')
    t.eq(replies(h) - before, 3, 'pop3s://: only the new order is answered')
    h.wait_for_messages('bob', 3)
    t.eq(pop3_count(h, 'dave', 'ssl'), 4, 'after: keep: all four kept')
    t.eq(sum(r for r, _ in pop3_sessions(h, 'dave')), 4,
         'finished messages are not fetched again (4 RETRs in 3 runs)')
    t.eq(sum(d for _, d in pop3_sessions(h, 'dave')), 0,
         'after: keep sends no DELE')


def test_wrong_password(t, h, rules):
    cfg = h.write_config('''state: %(tmp)s/facteur/bad.db
smtp:
  url: smtp://127.0.0.1:%(smtp)d
  user: bot
  password: secret
  from: bot@example.test
  ca_file: %(ca)s
accounts:
  - name: bad
    url: %(url)s
    user: dave
    password: wrong-secret-xyz
    ca_file: %(ca)s
    rules: [%(rules)s]
''' % dict(tmp=h.tmp, url=h.url('pop3'), ca=h.ca_file, rules=rules,
           smtp=h.ports['smtp']), name='bad.yaml')
    cp = h.facteur('run', '--once', '-c', cfg)
    t.eq(cp.returncode, 75, 'a refused login: run exits 75')
    t.ok('wrong-secret-xyz' not in cp.stderr,
         'the password is not in the log', cp.stderr)


def pipelined_message(n):
    """Message n: lines that start with dots (stuffed on the wire), a line
    that is a dot alone, and for n == 20 a body of 1.5 MB (over the 1 MB
    window: it goes alone)."""
    body = ('line one\r\n.starts with a dot %d\r\n..two dots\r\n.\r\n'
            '...\r\nlast line\r\n' % n)
    if n == 20:
        body += ('%s\r\n' % ('x' * 74)) * 20000
    return message('bob', 'Pipelined %d' % n, 'p%d' % n, body)


def journal_rows(db):
    c = sqlite3.connect(db)
    try:
        return sorted(c.execute('SELECT message_id, hash, status '
                                'FROM message'))
    finally:
        c.close()


def test_pipelined(t, h, rules):
    """40 messages, 5 of them processed by an earlier run: the session
    skips their RETR, pipelines the others' and deletes all 40 at QUIT;
    under valgrind."""
    raws = [pipelined_message(n) for n in range(1, 41)]
    cfg = config(h, rules, 'poppipe', h.url('pop3'), 'erin', 'keep')
    for raw in raws[:5]:
        h.deliver('erin', raw)
    cp = h.facteur('run', '--once', '-c', cfg)
    t.eq(cp.returncode, 0, 'pipelined: a first run over 5 messages exits 0')
    h.deliver_many('erin', raws[5:])
    # No rules in the run under valgrind: what is checked is the fetch
    # path. (PCRE2's JIT reads a vector past the end of the decoded text
    # of some of these messages, into bytes msg_utf8_sanitize() leaves
    # unset, which valgrind reports whatever the source.)
    none = os.path.join(h.tmp, 'facteur', 'no-rules.yaml')
    with open(none, 'w') as f:
        f.write('rules: []\n')
    cfg = config(h, none, 'poppipe', h.url('pop3'), 'erin', 'delete')
    cp = h.facteur('run', '-v', '--once', '-c', cfg, valgrind=True)
    t.eq(cp.returncode, 0, 'pipelined: the second run exits 0, no memory '
         'error and no leak under valgrind')
    if cp.returncode != 0:
        t.diag(cp.stderr[-3000:])
        t.diag(cp.valgrind[-3000:])
    db = os.path.join(h.tmp, 'facteur', 'poppipe.db')
    want = sorted(('p%d@example.test' % n, hashlib.sha256(raw).hexdigest(),
                   2) for n, raw in enumerate(raws, 1))
    t.eq(journal_rows(db), want, 'every message journaled once, done, with '
         'the hash of its exact bytes (dots unstuffed)')
    t.eq(pop3_count(h, 'erin', 'starttls'), 0, 'after: delete: the maildrop '
         'is empty (the DELEs were committed at QUIT)')
    t.eq(pop3_sessions(h, 'erin')[:2], [(5, 0), (35, 40)], 'the second '
         'session fetched only the 35 new messages and deleted all 40')
    lines = cp.stderr.splitlines()
    retr = [i for i, l in enumerate(lines) if re.search(r'> RETR 7$', l)]
    first = [i for i, l in enumerate(lines) if 'Pipelined 6' in l or
             '<p6@example.test>' in l]
    t.ok(retr and first and retr[0] < first[0], 'the RETR of message 7 '
         'went out before message 6 was processed (pipelined)',
         '\n'.join(lines[:60]))


class PlainPop3:
    """A scripted POP3 server without PIPELINING: STLS, AUTH PLAIN, CAPA,
    LIST, UIDL, RETR, DELE, QUIT. It notes every command, and in
    `early` each one that had arrived before the reply to the previous
    one was sent (bytes already buffered behind the line just read).
    DELEs count only after QUIT (`deleted`)."""

    CAPS = b'CAPA\r\nTOP\r\nUIDL\r\nUSER\r\nSASL PLAIN\r\n'

    def __init__(self, h, messages, cut=None):
        self.messages = list(messages)
        self.cut = cut          # RETR of this one: half of it, then close
        self.commands = []
        self.early = []
        self.deleted = []
        self.errors = []
        self._ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._ctx.load_cert_chain(h.cert_file, h.key_file)
        self._sock = socket.socket()
        self._sock.bind(('127.0.0.1', 0))
        self._sock.listen(4)
        self.port = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def close(self):
        self._sock.close()

    def _serve(self):
        try:
            conn, _ = self._sock.accept()
        except OSError:
            return
        try:
            self._session(conn)
        except Exception as e:  # noqa: BLE001 (reported by the test)
            self.errors.append(repr(e))
        finally:
            conn.close()

    def _session(self, s):
        buf = [b'']

        def line():
            while b'\n' not in buf[0]:
                data = s.recv(65536)
                if not data:
                    return None
                buf[0] += data
            text, buf[0] = buf[0].split(b'\n', 1)
            # More already here, before this line is answered?
            if buf[0] or (isinstance(s, ssl.SSLSocket) and s.pending()) \
                    or select.select([s], [], [], 0)[0]:
                self.early.append(text.decode().rstrip('\r'))
            return text.rstrip(b'\r').decode()

        s.sendall(b'+OK ready\r\n')
        gone = set()
        while True:
            cmd = line()
            if cmd is None:
                return
            self.commands.append(cmd)
            verb, _, arg = cmd.partition(' ')
            verb = verb.upper()
            if verb == 'CAPA':
                caps = self.CAPS if isinstance(s, ssl.SSLSocket) else \
                    self.CAPS + b'STLS\r\n'
                s.sendall(b'+OK\r\n' + caps + b'.\r\n')
            elif verb == 'STLS':
                s.sendall(b'+OK begin TLS\r\n')
                s = self._ctx.wrap_socket(s, server_side=True)
            elif verb == 'AUTH':
                if ' ' not in arg:
                    s.sendall(b'+ \r\n')
                    self.commands.append(line())
                s.sendall(b'+OK logged in\r\n')
            elif verb in ('USER', 'PASS', 'NOOP'):
                s.sendall(b'+OK\r\n')
            elif verb in ('LIST', 'UIDL'):
                out = b''.join(b'%d %s\r\n' % (n, str(len(m)).encode()
                               if verb == 'LIST' else b'u%d' % n)
                               for n, m in enumerate(self.messages, 1))
                s.sendall(b'+OK\r\n' + out + b'.\r\n')
            elif verb == 'RETR':
                m = self.messages[int(arg) - 1]
                body = re.sub(rb'(?m)^\.', b'..', m)
                if int(arg) == self.cut:
                    s.sendall(b'+OK %d octets\r\n' % len(m) +
                              body[:len(body) // 2])
                    return
                s.sendall(b'+OK %d octets\r\n' % len(m) + body +
                          b'.\r\n')
            elif verb == 'DELE':
                gone.add(int(arg))
                s.sendall(b'+OK deleted\r\n')
            elif verb == 'QUIT':
                self.deleted = sorted(gone)
                s.sendall(b'+OK bye\r\n')
                return
            else:
                s.sendall(b'-ERR unknown command\r\n')


def run_scripted(h, rules, name, raws, **kw):
    """`run --once` of account name (bob, after: delete) against a
    PlainPop3 holding raws; (server, CompletedProcess)."""
    srv = PlainPop3(h, raws, **kw)
    try:
        cfg = config(h, rules, name, 'pop3://127.0.0.1:%d' % srv.port,
                     'bob', 'delete')
        cp = h.facteur('run', '--once', '-c', cfg)
        srv._thread.join(10)
    finally:
        srv.close()
    return srv, cp


def test_no_pipelining(t, h, rules):
    """A server without PIPELINING: one command at a time, the same
    result."""
    raws = [message('bob', 'Plain %d' % n, 'n%d' % n,
                    'one\r\n.dot %d\r\n..two\r\n' % n) for n in (1, 2, 3)]
    srv, cp = run_scripted(h, rules, 'popplain', raws)
    t.eq(cp.returncode, 0, 'no PIPELINING: run exits 0')
    if cp.returncode != 0:
        t.diag(cp.stderr[-2000:])
    t.eq(srv.errors, [], 'the scripted server saw nothing it could not '
         'answer')
    t.eq(srv.early, [], 'no command was sent before the reply to the '
         'previous one')
    t.eq([c for c in srv.commands if c.split(' ')[0] in
          ('LIST', 'UIDL', 'RETR', 'DELE', 'QUIT')],
         ['LIST', 'UIDL', 'RETR 1', 'DELE 1', 'RETR 2', 'DELE 2', 'RETR 3',
          'DELE 3', 'QUIT'], 'the commands, in this order')
    t.eq(srv.deleted, [1, 2, 3], 'the DELEs were committed by QUIT')
    db = os.path.join(h.tmp, 'facteur', 'popplain.db')
    t.eq(journal_rows(db), sorted(('n%d@example.test' % n,
                                   hashlib.sha256(raw).hexdigest(), 2)
                                  for n, raw in zip((1, 2, 3), raws)),
         'each message journaled once, done, byte-exact')


def test_cut_mid_retr(t, h, rules):
    """The server closes in the middle of a RETR: a temporary failure,
    nothing committed, the half message not journaled; the next session
    takes it whole and does not process the first one again."""
    raws = [message('bob', 'Cut %d' % n, 'c%d' % n,
                    'one\r\n.dot\r\n' + 'x' * 3000 + '\r\n')
            for n in (1, 2, 3)]
    db = os.path.join(h.tmp, 'facteur', 'popcut.db')
    srv, cp = run_scripted(h, rules, 'popcut', raws, cut=2)
    t.eq(cp.returncode, 75, 'cut mid-RETR: exit 75 (temporary failure)')
    t.ok('closed' in cp.stderr, 'the error says the connection was closed',
         cp.stderr[-1500:])
    t.eq(journal_rows(db), [('c1@example.test',
                             hashlib.sha256(raws[0]).hexdigest(), 2)],
         'only the message read whole is journaled')
    t.eq(srv.deleted, [], 'no QUIT: no DELE committed')
    srv, cp = run_scripted(h, rules, 'popcut', raws)
    t.eq(cp.returncode, 0, 'the next run exits 0')
    t.eq([c for c in srv.commands if c.startswith('RETR')],
         ['RETR 2', 'RETR 3'], 'it fetches only the two not finished')
    t.eq(srv.deleted, [1, 2, 3], 'and deletes all three at QUIT')
    t.eq(journal_rows(db), sorted(('c%d@example.test' % n,
                                   hashlib.sha256(raw).hexdigest(), 2)
                                  for n, raw in zip((1, 2, 3), raws)),
         'each message journaled once, done, whole')


def main():
    t = Tap()
    users = ['bot', 'alice', 'bob', 'carol', 'dave', 'erin']
    with Harness(users=users) as h:
        t.harness = h
        rules = os.path.join(h.tmp, 'facteur', 'rules.yaml')
        with open(rules, 'w') as f:
            f.write(RULES)
        t.run('pop3:// after: delete', test_delete, t, h, rules)
        t.run('pop3s:// after: keep', test_keep, t, h, rules)
        t.run('wrong password', test_wrong_password, t, h, rules)
        t.run('pipelined RETRs', test_pipelined, t, h, rules)
        t.run('no PIPELINING', test_no_pipelining, t, h, rules)
        t.run('cut mid-RETR', test_cut_mid_retr, t, h, rules)
    t.done()


if __name__ == '__main__':
    main()
