#!/usr/bin/env python3
"""A mailbox deleted and recreated gets a new UIDVALIDITY and new UIDs for
the same messages: the IMAP source rescans it, recognises the five messages
it processed before by their bytes and Message-ID, and acts only on the
three new ones."""
import os
import sqlite3
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Harness, Tap  # noqa: E402

RULES = '''rules:
  - name: every-message
    then:
      - flag: {add: [processed]}
'''


def message(i):
    return ('From: Alice <alice@example.test>\r\n'
            'To: bot@example.test\r\n'
            'Subject: message %d\r\n'
            'Message-ID: <uv-%d@example.test>\r\n'
            '\r\n'
            'Body %d.\r\n' % (i, i, i)).encode()


def uidvalidity(h, mailbox):
    c = h.imap('bot', tls=None)
    try:
        typ, _ = c.select(mailbox, readonly=True)
        assert typ == 'OK'
        return int(c.response('UIDVALIDITY')[1][0])
    finally:
        c.logout()


def actions(state):
    db = sqlite3.connect(state)
    try:
        return db.execute('SELECT count(*) FROM action WHERE status = 1'
                          ).fetchone()[0]
    finally:
        db.close()


def subjects_flagged(h, mailbox):
    out = []
    for _, flags, raw in h.fetch_all('bot', mailbox):
        if 'processed' in flags:
            out.append(raw.split(b'Subject: ')[1].split(b'\r\n')[0].decode())
    return sorted(out)


def main():
    t = Tap()
    with Harness(smtp=False) as h:
        t.harness = h
        rules = os.path.join(h.tmp, 'facteur', 'rules.yaml')
        with open(rules, 'w') as f:
            f.write(RULES)
        state = os.path.join(h.tmp, 'facteur', 'state.db')
        cfg = h.write_config('''state: %s
accounts:
  - name: work
    url: imaps://127.0.0.1:%d/Work
    user: bot
    password: secret
    ca_file: %s
    after: keep
    rules: [%s]
''' % (state, h.ports['imaps'], h.ca_file, rules))

        @t.test('a recreated mailbox: only the new messages are processed')
        def _():
            old = [message(i) for i in range(1, 6)]
            new = [message(i) for i in range(6, 9)]
            h.create_mailbox('bot', 'Work')
            h.deliver_many('bot', old, mailbox='Work')
            v1 = uidvalidity(h, 'Work')
            cp = h.facteur('run', '--once', '-c', cfg)
            t.eq(cp.returncode, 0, 'first run exits 0')
            t.eq(actions(state), 5, 'first run: five actions done')

            h.delete_mailbox('bot', 'Work')
            h.create_mailbox('bot', 'Work')
            h.deliver_many('bot', old + new, mailbox='Work')
            v2 = uidvalidity(h, 'Work')
            t.ok(v2 != v1, 'the recreated mailbox has a new UIDVALIDITY',
                 '%d -> %d' % (v1, v2))
            t.eq(subjects_flagged(h, 'Work'), [],
                 'the recreated mailbox starts with no keyword')

            cp = h.facteur('run', '--once', '-c', cfg, valgrind=True)
            t.eq(cp.returncode, 0, 'second run exits 0 (no leak under '
                 'valgrind)')
            if cp.returncode != 0:
                t.diag(cp.stderr[-3000:])
                t.diag(getattr(cp, 'valgrind', '') or '')
            t.ok('UIDVALIDITY changed (%d -> %d)' % (v1, v2) in cp.stderr,
                 'the change is logged with both values', cp.stderr[-2000:])
            t.eq(actions(state), 8, 'second run: three more actions done')
            t.eq(subjects_flagged(h, 'Work'),
                 ['message 6', 'message 7', 'message 8'],
                 'only the three new messages were acted on')

            cp = h.facteur('run', '--once', '-c', cfg)
            t.eq(cp.returncode, 0, 'third run exits 0')
            t.eq(actions(state), 8, 'third run does nothing more')
            t.ok(' done ' not in cp.stderr, 'third run processes no message',
                 cp.stderr[-2000:])
    t.done()


if __name__ == '__main__':
    main()
