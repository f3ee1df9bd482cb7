#!/usr/bin/env python3
"""A slow `run` action does not hold up the other accounts of the daemon.

One `facteur run` with two IMAP accounts in IDLE on the harness's Dovecot:
`slow` (user bot) runs a command that waits for a gate file, which the
test creates only at the end; `fast` (user bob) runs `touch`. While the
slow command is still waiting (it said so by writing a marker first), mail
for `fast` is processed: its file appears. Were the daemon blocked in the
slow action, it never would, since the gate is opened only afterwards.
Then the gate opens and the slow action finishes as done.
"""
import os
import sqlite3
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Harness, Tap, wait_until  # noqa: E402
from test_daemon import Daemon  # noqa: E402

ACT_DONE = 1        # enum state_act_status in src/state.h


def message(n):
    return ('From: Alice <alice@example.test>\r\nTo: x@example.test\r\n'
            'Subject: job %d\r\nMessage-ID: <job-%d@example.test>\r\n\r\n'
            'go\r\n' % (n, n)).encode()


def action_status(db, account):
    if not os.path.exists(db):
        return None
    c = sqlite3.connect('file:%s?mode=ro' % db, uri=True, timeout=5)
    try:
        row = c.execute('SELECT a.status FROM action a JOIN message m '
                        'ON a.message = m.id WHERE m.account = ?',
                        (account,)).fetchone()
    except sqlite3.OperationalError:
        return None     # not created yet
    finally:
        c.close()
    return row[0] if row else None


def main():
    t = Tap()
    with Harness() as h:
        t.harness = h
        d = os.path.join(h.tmp, 'facteur')
        gate, started, fast_done = (os.path.join(d, n) for n in
                                    ('gate', 'started', 'fast-done'))
        with open(os.path.join(d, 'slow.yaml'), 'w') as f:
            f.write('''rules:
  - name: slow
    if: {subject: '^job '}
    then:
      - run:
          argv: [sh, -c, 'touch %s; while [ ! -e %s ]; do sleep 0.05; done']
          timeout: 120s
''' % (started, gate))
        with open(os.path.join(d, 'fast.yaml'), 'w') as f:
            f.write('''rules:
  - name: fast
    if: {subject: '^job '}
    then:
      - run: {argv: [touch, %s]}
''' % fast_done)
        db = os.path.join(d, 'state.db')
        cfg = h.write_config('''state: %(db)s
accounts:
  - name: slow
    url: imap://127.0.0.1:%(imap)d/INBOX
    user: bot
    password: secret
    ca_file: %(ca)s
    watch: idle
    rules: [%(d)s/slow.yaml]
  - name: fast
    url: imap://127.0.0.1:%(imap)d/INBOX
    user: bob
    password: secret
    ca_file: %(ca)s
    watch: idle
    rules: [%(d)s/fast.yaml]
''' % dict(db=db, imap=h.ports['imap'], d=d, ca=h.ca_file))
        dm = Daemon(h, cfg, '-v')
        try:
            t.ok(dm.wait_log(r'fast: > \S+ IDLE', 20) and
                 dm.wait_log(r'slow: > \S+ IDLE', 20),
                 'both accounts are in IDLE', dm.text()[-2000:])
            h.deliver('bot', message(1))
            t.ok(wait_until(lambda: os.path.exists(started), 20),
                 'the slow command is running')
            h.deliver('bob', message(2))
            t.ok(wait_until(lambda: os.path.exists(fast_done), 20),
                 'mail for the other account is processed meanwhile',
                 dm.text()[-2000:])
            t.ok(not os.path.exists(gate) and
                 action_status(db, 'slow') != ACT_DONE,
                 'while the slow command still waits')
            t.eq(action_status(db, 'fast'), ACT_DONE,
                 'the fast action is journaled done')
            with open(gate, 'w'):
                pass
            t.ok(wait_until(lambda: action_status(db, 'slow') == ACT_DONE,
                            20), 'once the gate opens the slow action is '
                 'done', dm.text()[-2000:])
        finally:
            rc = dm.stop()
        t.eq(rc, 0, 'SIGTERM: exit 0')
    t.done()


if __name__ == '__main__':
    main()
