#!/usr/bin/env python3
"""The IMAP server goes away in the middle of a long fetch.

320 messages wait in the bot's INBOX; `facteur run` (IDLE account) answers
each with a reply. When the journal holds some of them but not all, Dovecot
is stopped, then started again. In the end every message has exactly one
journal row, done, and Exim received exactly one reply per message: none
skipped, none repeated. The first message is one whose To header GMime
parses recursively, over a megabyte deep: the daemon's coroutine stacks
must take it as the main thread's does.

Then the same daemon code runs once under valgrind (a few messages, two
accounts, SIGTERM): no memory error, no definite leak.
"""
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Harness, Tap, _valgrind_suppressions,  # noqa: E402
                     numbered, wait_until)

N = 320
STOP_AT = 60        # journal rows when Dovecot is stopped
STATE_DONE = 2      # enum state_msg_status in src/state.h

RULES = r'''rules:
  - name: ping
    if: {subject: '^ping (?<n>[0-9]+)$'}
    then:
      - reply: {subject: "pong {{n}}", body: "pong {{n}}\n"}
'''


def pongs(h):
    """The numbers of the pong replies in alice's INBOX."""
    return numbered(h, 'alice', 'pong')

def message(n):
    return ('From: Alice <alice@example.test>\r\nTo: bot@example.test\r\n'
            'Subject: ping %d\r\nMessage-ID: <mid-%d@example.test>\r\n\r\n'
            'ping\r\n' % (n, n)).encode()


def deep_message():
    """A To header of thousands of encoded words (after a message of the
    MimeKit test suite made to exhaust stacks)."""
    return ('From: "test" <test@example.test>\r\n'
            'To: "test" <test@example.test>,\r\n' +
            '\t=?utf-8?Q?date=3E2017-08-20T10:08:28.617=3C/pr?=\r\n' * 5000 +
            'Subject: deep\r\nMessage-ID: <deep@example.test>\r\n'
            'Content-Type: text/plain\r\n\r\nbody\r\n').encode()



def journal(db):
    """(key, status) of every journal row."""
    if not os.path.exists(db):
        return []
    c = sqlite3.connect('file:%s?mode=ro' % db, uri=True, timeout=5)
    try:
        return c.execute('SELECT key, status FROM message').fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        c.close()



def config(h, rules, accounts):
    return h.write_config('''state: %(tmp)s/facteur/state.db
smtp:
  url: smtps://127.0.0.1:%(smtps)d
  user: bot
  password: secret
  from: bot@example.test
  ca_file: %(ca)s
limits:
  sends_per_hour: 100000
  replies_per_sender: 100000/1h
accounts:
%(accounts)s''' % dict(tmp=h.tmp, smtps=h.ports['smtps'], ca=h.ca_file,
                       accounts=''.join('''  - name: %s
    url: imaps://127.0.0.1:%d/INBOX
    user: %s
    password: secret
    ca_file: %s
    watch: idle
    poll: 3600s
    rules: [%s]
''' % (name, h.ports['imaps'], user, h.ca_file, rules)
                                        for name, user in accounts)))


def start(h, cfg, argv_prefix=()):
    exe = os.path.abspath(os.environ.get('FACTEUR', './facteur'))
    log = open(os.path.join(h.tmp, 'facteur', 'daemon.log'), 'w+')
    p = subprocess.Popen(list(argv_prefix) + [exe, 'run', '-v', '-c', cfg],
                         stdout=log, stderr=subprocess.STDOUT, cwd=h.tmp,
                         start_new_session=True)
    h._record_pgid(p.pid)
    return p, log


def stop(p, timeout=30):
    p.send_signal(signal.SIGTERM)
    try:
        return p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        return 'timeout'


def main():
    t = Tap()
    with Harness() as h:
        t.harness = h
        rules = os.path.join(h.tmp, 'facteur', 'rules.yaml')
        with open(rules, 'w') as f:
            f.write(RULES)
        db = os.path.join(h.tmp, 'facteur', 'state.db')
        h.deliver_many('bot', [deep_message()] +
                       [message(n) for n in range(1, N + 1)])
        cfg = config(h, rules, [('bot', 'bot')])
        p, log = start(h, cfg)
        try:
            rows = wait_until(lambda: len(journal(db)) >= STOP_AT, 60)
            h.stop_dovecot()
            at = len(journal(db))
            t.diag('Dovecot stopped with %d of %d messages journaled'
                   % (at, N + 1))
            t.ok(rows and at < N, 'Dovecot stopped in the middle of the '
                 'fetch (%d of %d journaled)' % (at, N + 1))
            t.ok(p.poll() is None, 'the daemon took the deep message')
            h.start_dovecot()
            t.ok(wait_until(lambda: len(journal(db)) >= N + 1, 120, 0.2),
                 'after the restart every message is journaled',
                 '%d rows' % len(journal(db)))
            t.ok(wait_until(lambda: len(pongs(h)) >= N, 120, 0.5),
                 'alice gets the replies')
        finally:
            rc = stop(p)
        t.eq(rc, 0, 'SIGTERM ends the daemon cleanly with status 0')
        j = journal(db)
        keys = sorted(int(k.split('/')[1]) for k, _ in j)
        t.eq(keys, list(range(1, N + 2)),
             'one journal row per message: none skipped, none twice')
        t.eq([s for _, s in j if s != STATE_DONE], [],
             'every journal row is done')
        # What facteur sent is what Exim received: one reception per reply.
        # The mailbox may hold a copy more, if Dovecot stopped between
        # taking a reply over LMTP and answering Exim, which then delivers
        # it again: that is the delivery path's, not facteur's.
        sent = re.findall(r'<= .* id=(facteur\.[0-9a-f]+@[^ ]+)',
                          h.log('smtp'))
        t.eq(len(sent), N, 'Exim received exactly %d replies' % N)
        t.eq(len(set(sent)), N, 'each with its own Message-ID: none sent '
             'twice')
        got = pongs(h)
        t.eq(sorted(set(got)), list(range(1, N + 1)),
             'alice holds a reply to every message')
        if len(got) != N:
            t.diag('%d copies in the mailbox for %d replies sent: Exim '
                   'redelivered after the Dovecot stop' % (len(got), N))
        if t.failed:
            log.seek(0)
            t.diag(log.read()[-4000:])

        # The daemon under valgrind: two accounts in their coroutines.
        h.deliver('alice', message(1001))
        h.deliver('bob', message(1002))
        cfg = config(h, rules, [('alice', 'alice'), ('bob', 'bob')])
        vlog = os.path.join(h.tmp, 'facteur', 'valgrind.log')
        vg = ['valgrind', '-q', '--leak-check=full',
              '--show-leak-kinds=definite', '--errors-for-leak-kinds=definite',
              '--error-exitcode=99', '--log-file=' + vlog] + \
            ['--suppressions=' + s for s in _valgrind_suppressions()]
        before = len(journal(db))
        p, log = start(h, cfg, vg)
        try:
            ok = wait_until(lambda: len(journal(db)) >= before + 2 and
                            re.findall(r'(alice|bob): > F\d+ IDLE',
                                       open(log.name).read()) and
                            len(set(re.findall(r'(alice|bob): > F\d+ IDLE',
                                               open(log.name).read()))) == 2,
                            120, 0.2)
            t.ok(ok, 'under valgrind: both accounts processed and in IDLE')
        finally:
            rc = stop(p, 120)
        t.eq(rc, 0, 'under valgrind: exits 0 (99 would be a memory error '
             'or a definite leak)')
        with open(vlog, errors='replace') as f:
            report = f.read()
        t.eq(report.strip(), '', 'valgrind reports nothing')
    t.done()


if __name__ == '__main__':
    main()
