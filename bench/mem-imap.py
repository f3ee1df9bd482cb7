#!/usr/bin/env python3
"""Peak memory of `facteur run --once` over IMAP, for bench/memory.sh.

Starts the test harness's Dovecot (tests/integration/harness.py: loopback
ports, a temp dir, everything stopped on exit or failure), puts the corpus
into one user's INBOX and the large message into another's (IMAP
MULTIAPPEND), then runs `facteur run --once` over IMAPS for each, under
/usr/bin/time, with the reference rules. Each run must exit 0 and leave
the mailbox's last UID in the journal at the last message: every message
finished.

Usage: mem-imap.py RULES.yaml CORPUS_DIR BIG.eml
Prints one line per run: `NAME BYTES MESSAGES PEAK_KIB SECONDS`.
Env: FACTEUR (default ./facteur)."""
import os
import sqlite3
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'tests',
                                'integration'))
from harness import Harness  # noqa: E402


def config(h, user, rules, db):
    return '''state: %(db)s
accounts:
  - name: %(user)s
    url: imaps://127.0.0.1:%(port)d/INBOX
    user: %(user)s
    password: secret
    ca_file: %(ca)s
    rules: [%(rules)s]
''' % dict(db=db, user=user, port=h.ports['imaps'], ca=h.ca_file,
           rules=rules)


def last_uid(db, account):
    try:
        c = sqlite3.connect(db)
        try:
            row = c.execute('SELECT last_uid FROM mailbox WHERE account = ?',
                            (account,)).fetchone()
        finally:
            c.close()
    except sqlite3.Error as e:
        return 'unreadable (%s)' % e
    return row[0] if row else None


def measure(h, exe, user, rules, uids):
    db = os.path.join(h.tmp, 'facteur', user + '.db')
    cfg = h.write_config(config(h, user, rules, db), user + '.yaml')
    out = os.path.join(h.tmp, 'facteur', user + '.time')
    t0 = time.monotonic()
    cp = h.facteur('-f', '%M', '-o', out, exe, 'run', '--once', '-c', cfg,
                   binary='/usr/bin/time', timeout=240)
    secs = time.monotonic() - t0
    if cp.returncode != 0:
        sys.stderr.write('mem-imap: %s: facteur run --once exited %d\n%s'
                         % (user, cp.returncode, cp.stderr[-3000:]))
        sys.exit(1)
    got = last_uid(db, user)
    if got != max(uids):
        sys.stderr.write('mem-imap: %s: last UID in the journal %r, '
                         'wanted %d\n' % (user, got, max(uids)))
        sys.exit(1)
    with open(out) as f:
        return int(f.read().split()[-1]), secs


def main():
    if len(sys.argv) != 4:
        sys.stderr.write('usage: mem-imap.py RULES.yaml CORPUS_DIR BIG.eml\n')
        sys.exit(64)
    rules, corpus, big = (os.path.abspath(a) for a in sys.argv[1:])
    exe = os.path.abspath(os.environ.get('FACTEUR', './facteur'))
    names = sorted(n for n in os.listdir(corpus) if n.endswith('.eml'))
    raws = []
    for n in names:
        with open(os.path.join(corpus, n), 'rb') as f:
            raws.append(f.read())
    with open(big, 'rb') as f:
        bigraw = f.read()
    with Harness(users=['corpus', 'big'], smtp=False) as h:
        for user, msgs in (('corpus', raws), ('big', [bigraw])):
            uids = h.deliver_many(user, msgs)
            if None in uids or len(uids) != len(msgs):
                sys.stderr.write('mem-imap: APPEND gave no UIDs\n')
                sys.exit(1)
            kib, secs = measure(h, exe, user, rules, uids)
            print('%s %d %d %d %.2f' % (user, sum(len(m) for m in msgs),
                                        len(msgs), kib, secs))
            sys.stdout.flush()


if __name__ == '__main__':
    main()
