#!/usr/bin/env python3
"""The IMAP source on 1,000 real messages in one mailbox: each is processed
exactly once (one journal row per UID, one keyword set per message), none is
marked \\Seen under `after: keep`, and a second run processes nothing."""
import csv
import os
import sqlite3
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Harness, Tap  # noqa: E402

# ../shared/corpus beside the repository, or FACTEUR_CORPUS.
CORPUS = os.environ.get('FACTEUR_CORPUS') or os.path.normpath(os.path.join(
    os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', 'shared',
    'corpus'))
N = 1000

RULES = '''rules:
  - name: every-message
    then:
      - flag: {add: [processed]}
'''


def corpus_messages(t):
    """N messages with distinct bytes from the corpus, or generated ones.

    Distinct once stored: the server turns bare LF into CRLF, and the
    journal rightly takes the same bytes twice in one mailbox for one
    message delivered twice."""
    index = os.path.join(CORPUS, '_INDEX.tsv')
    if os.path.exists(index):
        out, seen = [], set()
        with open(index, newline='') as f:
            for row in csv.DictReader(f, delimiter='\t'):
                with open(os.path.join(CORPUS, row['file']), 'rb') as m:
                    raw = m.read()
                key = raw.replace(b'\r\n', b'\n').rstrip(b'\n')
                if key in seen:
                    continue
                # IMAP APPEND carries no NUL byte.
                if b'\0' in raw or not raw.strip():
                    continue
                seen.add(key)
                out.append(raw)
                if len(out) == N:
                    t.diag('%d messages from %s' % (N, CORPUS))
                    return out
    t.diag('no corpus with %d usable messages at %s: using generated '
           'messages' % (N, CORPUS))
    return [('From: sender%d@example.test\r\nTo: bot@example.test\r\n'
             'Subject: generated %d\r\nMessage-ID: <gen-%d@example.test>'
             '\r\n\r\nBody %d.\r\n' % (i, i, i, i)).encode()
            for i in range(N)]


def main():
    t = Tap()
    with Harness(smtp=False) as h:
        t.harness = h
        raws = corpus_messages(t)
        rules = os.path.join(h.tmp, 'facteur', 'rules.yaml')
        with open(rules, 'w') as f:
            f.write(RULES)
        state = os.path.join(h.tmp, 'facteur', 'state.db')
        cfg = h.write_config('''state: %s
accounts:
  - name: bulk
    url: imaps://127.0.0.1:%d/INBOX
    user: bot
    password: secret
    ca_file: %s
    after: keep
    rules: [%s]
''' % (state, h.ports['imaps'], h.ca_file, rules))

        @t.test('1,000 messages are each processed exactly once')
        def _():
            uids = h.deliver_many('bot', raws)
            t.eq(len(uids), N, 'the mailbox holds %d messages' % N)
            start = time.monotonic()
            cp = h.facteur('run', '--once', '-c', cfg, timeout=300)
            took = time.monotonic() - start
            t.eq(cp.returncode, 0, 'first run exits 0')
            if cp.returncode != 0:
                t.diag(cp.stderr[-3000:])
            t.diag('first run: %.2f s for %d messages' % (took, N))

            db = sqlite3.connect(state)
            rows = db.execute('SELECT key, status FROM message').fetchall()
            acts = db.execute('SELECT type, status FROM action').fetchall()
            db.close()
            t.eq(len(rows), N, 'the journal has one row per message')
            uidvalidity = {k.split('/')[0] for k, _ in rows}
            t.eq(len(uidvalidity), 1, 'all rows under one UIDVALIDITY')
            t.eq(sorted(int(k.split('/')[1]) for k, _ in rows), sorted(uids),
                 'one row for each UID the server assigned, no other')
            t.eq({s for _, s in rows}, {2}, 'every message is done')
            t.eq(len(acts), N, 'one action per message in the journal')
            t.eq(set(acts), {('flag', 1)}, 'every flag action is done')

            msgs = h.fetch_all('bot')
            t.eq(len(msgs), N, 'after: keep leaves every message in INBOX')
            t.eq(sum(1 for _, f, _ in msgs if 'processed' in f), N,
                 'every message carries the keyword once set')
            t.eq(sum(1 for _, f, _ in msgs if '\\Seen' in f), 0,
                 'no message is marked \\Seen')

            start = time.monotonic()
            cp = h.facteur('run', '--once', '-c', cfg, timeout=300)
            took = time.monotonic() - start
            t.eq(cp.returncode, 0, 'second run exits 0')
            t.ok(' done ' not in cp.stderr and ' failed ' not in cp.stderr,
                 'second run processes no message', cp.stderr[-2000:])
            t.diag('second run: %.2f s' % took)
            db = sqlite3.connect(state)
            n = db.execute('SELECT count(*) FROM message').fetchone()[0]
            a = db.execute('SELECT count(*) FROM action').fetchone()[0]
            db.close()
            t.eq((n, a), (N, N), 'second run adds no journal row')
    t.done()


if __name__ == '__main__':
    main()
