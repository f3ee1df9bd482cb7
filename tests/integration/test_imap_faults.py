#!/usr/bin/env python3
"""IMAP protocol faults from a scripted server (fakeimap.py), over TLS with
the harness's certificate: a literal whose content looks like the tagged
reply, a connection cut in the middle of a literal, and a literal larger
than the reader accepts."""
import hashlib
import os
import sqlite3
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Harness, Tap  # noqa: E402
from fakeimap import FakeImap  # noqa: E402

RULES = '''rules:
  - name: every-message
    then:
      - flag: {add: [processed]}
'''

# The tags facteur uses: F1 CAPABILITY, F2 SELECT, F3 UID SEARCH, F4 UID
# FETCH. A reader that looked for the tag inside the literal would stop
# at the first of these lines and lose the rest of the message.
TRICKY = (b'From: alice@example.test\r\n'
          b'To: bot@example.test\r\n'
          b'Subject: looks like a reply\r\n'
          b'Message-ID: <tricky@example.test>\r\n'
          b'\r\n'
          b'F4 OK FETCH completed\r\n'
          b'A005 OK Success\r\n'
          b'* 2 FETCH (UID 99 BODY[] {3}\r\n'
          b'abc)\r\n'
          b'F4 BAD {5}\r\n'
          b'The real end of the message.\r\n')

PLAIN = (b'From: bob@example.test\r\n'
         b'To: bot@example.test\r\n'
         b'Subject: an ordinary message\r\n'
         b'Message-ID: <plain-%d@example.test>\r\n'
         b'\r\n' + b'Line of text, long enough to be cut.\r\n' * 40)


LIMIT_KB = 768 << 10


def journal(state):
    """[(key, hash, status)] or [] when there is no journal yet."""
    if not os.path.exists(state):
        return []
    db = sqlite3.connect(state)
    try:
        return db.execute('SELECT key, hash, status FROM message ORDER BY id'
                          ).fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        db.close()


def setup(h, srv, name):
    rules = os.path.join(h.tmp, 'facteur', 'rules.yaml')
    with open(rules, 'w') as f:
        f.write(RULES)
    state = os.path.join(h.tmp, 'facteur', name + '.db')
    cfg = h.write_config('''state: %s
accounts:
  - name: fake
    url: %s
    user: bot
    password: secret
    ca_file: %s
    after: keep
    rules: [%s]
''' % (state, srv.url(), h.ca_file, rules), name=name + '.yaml')
    return cfg, state


def sha(b):
    return hashlib.sha256(b).hexdigest()


def tricky_literal(t, h):
    with FakeImap(h.cert_file, h.key_file, {1: TRICKY, 2: PLAIN % 2}) as srv:
        cfg, state = setup(h, srv, 'tricky')
        cp = h.facteur('run', '--once', '-c', cfg, valgrind=True)
        t.eq(cp.returncode, 0, 'run exits 0 (no error, no leak under '
             'valgrind)')
        if cp.returncode != 0:
            t.diag(cp.stderr[-3000:])
            t.diag(getattr(cp, 'valgrind', '') or '')
        t.eq(journal(state), [('42/1', sha(TRICKY), 2), ('42/2',
             sha(PLAIN % 2), 2)],
             'both messages processed, the tricky one whole (hash of all '
             'its bytes)')
        stores = [c.split(' ', 1)[1] for c in srv.commands
                  if ' UID STORE ' in c]
        t.eq(stores, ['UID STORE 1 +FLAGS.SILENT (processed)',
                      'UID STORE 2 +FLAGS.SILENT (processed)'],
             'the action ran once on each UID, after the whole FETCH')


def cut_literal(t, h):
    msg = PLAIN % 3

    def cut(srv, uids, tag):
        item = srv.fetch_item(uids[0])
        return item[:len(item) - len(msg) // 2], True

    with FakeImap(h.cert_file, h.key_file, {3: msg}) as srv:
        cfg, state = setup(h, srv, 'cut')
        srv.on_fetch = cut
        cp = h.facteur('run', '--once', '-c', cfg)
        t.eq(cp.returncode, 75, 'a connection cut mid-literal: exit 75 '
             '(temporary failure)')
        t.ok('fake' in cp.stderr and ('closed' in cp.stderr or
             'connection' in cp.stderr.lower()),
             'the error names the account and the lost connection',
             cp.stderr[-1500:])
        t.diag('error: ' + cp.stderr.strip().splitlines()[-1][:200])
        t.eq(journal(state), [], 'the half message is not in the journal')
        t.eq([c for c in srv.commands if ' UID STORE ' in c], [],
             'no action ran on it')

        srv.on_fetch = None
        cp = h.facteur('run', '--once', '-c', cfg)
        t.eq(cp.returncode, 0, 'the next run exits 0')
        t.eq(journal(state), [('42/3', sha(msg), 2)],
             'the next run processes the message whole')


def oversize_literal(t, h):
    msg = PLAIN % 4
    huge = 3 << 30                  # 3 GiB announced, never sent

    def announce(srv, uids, tag):
        return (b'* 1 FETCH (UID 4 FLAGS () BODY[] {%d}\r\n' % huge +
                b'x' * 1000, False)

    with FakeImap(h.cert_file, h.key_file, {4: msg}) as srv:
        cfg, state = setup(h, srv, 'huge')
        srv.on_fetch = announce
        start = time.monotonic()
        cp = h.facteur('run', '--once', '-c', cfg, valgrind=True)
        took = time.monotonic() - start
        t.eq(cp.returncode, 75, 'an oversize literal: exit 75, no crash, '
             'nothing leaked under valgrind')
        t.ok('literal of %d bytes is over the limit' % huge in cp.stderr,
             'the error says the literal is over the limit',
             cp.stderr[-1500:])
        t.ok(took < 60, 'refused at once, without waiting for the bytes '
             '(%.1f s under valgrind)' % took)
        t.eq(journal(state), [], 'nothing is journalled')

        # With the address space capped far below the announced size, an
        # attempt to allocate it would end in an out-of-memory abort.
        wrapper = os.path.join(h.tmp, 'facteur', 'limited.sh')
        with open(wrapper, 'w') as f:
            f.write('#!/bin/sh\nulimit -v %d\nexec "$FACTEUR_REAL" "$@"\n'
                    % LIMIT_KB)
        os.chmod(wrapper, 0o755)
        real = os.path.abspath(os.environ.get('FACTEUR') or './facteur')
        cp = h.facteur('run', '--once', '-c', cfg, binary=wrapper,
                       env={'FACTEUR_REAL': real})
        t.eq(cp.returncode, 75, 'under a %d MiB address-space limit: the '
             'same clean refusal (no huge allocation)' % (LIMIT_KB >> 10))
        t.ok('over the limit' in cp.stderr, 'with the same error',
             cp.stderr[-1500:])

        srv.on_fetch = None
        cp = h.facteur('run', '--once', '-c', cfg, binary=wrapper,
                       env={'FACTEUR_REAL': real})
        t.eq(cp.returncode, 0, 'once the server behaves, the next run '
             'exits 0 (under the same limit)')
        t.eq(journal(state), [('42/4', sha(msg), 2)],
             'and processes the message')


def absurd_literal(t, h):
    """A literal size no machine could hold (20 digits)."""
    msg = PLAIN % 9

    def announce(srv, uids, tag):
        return (b'* 1 FETCH (UID 9 FLAGS () BODY[] {99999999999999999999}'
                b'\r\n' + msg + b')\r\n' + tag + b' OK done\r\n', False)

    with FakeImap(h.cert_file, h.key_file, {9: msg}) as srv:
        cfg, state = setup(h, srv, 'absurd')
        srv.on_fetch = announce
        cp = h.facteur('run', '--once', '-c', cfg, valgrind=True)
        t.eq(cp.returncode, 75, 'a 20-digit literal size: exit 75, no crash, '
             'nothing leaked under valgrind')
        t.diag('error: ' + cp.stderr.strip().splitlines()[-1][:200])
        t.eq(journal(state), [], 'nothing is journalled')
        t.eq([c for c in srv.commands if ' UID STORE ' in c], [],
             'no action ran')
        srv.on_fetch = None
        cp = h.facteur('run', '--once', '-c', cfg)
        t.eq((cp.returncode, journal(state)), (0, [('42/9', sha(msg), 2)]),
             'once the server behaves, the message is processed')


def oversize_by_size(t, h):
    small = PLAIN % 5
    big = 100 << 20                 # over the 64 MiB cap

    with FakeImap(h.cert_file, h.key_file, {5: small, 6: PLAIN % 6}) as srv:
        cfg, state = setup(h, srv, 'sized')
        srv.sizes = {6: big}  # the last one: the saved UID must pass it
        cp = h.facteur('run', '--once', '-c', cfg)
        t.eq(cp.returncode, 0, 'a message the server says is over the cap: '
             'exit 0')
        t.ok('uid 6: %d bytes, over the cap of %d: left in the mailbox'
             % (big, 64 << 20) in cp.stderr, 'a warning names the UID, its '
             'size and the cap', cp.stderr[-1500:])
        bodies = [c for c in srv.commands if 'BODY.PEEK[]' in c]
        t.eq([c.split(' ', 1)[1] for c in bodies],
             ['UID FETCH 5 (UID FLAGS BODY.PEEK[])'],
             'its body is never fetched; the other message is')
        t.eq(journal(state), [('42/5', sha(small), 2)],
             'the other message is processed; the big one is not journalled')
        t.eq([c.split(' ', 1)[1] for c in srv.commands if ' UID STORE ' in c],
             ['UID STORE 5 +FLAGS.SILENT (processed)'],
             'no action touched the big one')
        cp = h.facteur('run', '--once', '-c', cfg)
        t.eq(cp.returncode, 0, 'second run exits 0')
        t.ok('over the cap' not in cp.stderr, 'and does not warn again: the '
             'saved UID moved past it', cp.stderr[-1500:])


def main():
    t = Tap()
    with Harness(smtp=False) as h:
        t.harness = h
        t.run('a literal that looks like the tagged reply', tricky_literal,
              t, h)
        t.run('a connection cut mid-literal', cut_literal, t, h)
        t.run('an oversize literal', oversize_literal, t, h)
        t.run('an absurd literal size', absurd_literal, t, h)
        t.run('a message over the size cap', oversize_by_size, t, h)
    t.done()


if __name__ == '__main__':
    main()
