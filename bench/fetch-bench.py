#!/usr/bin/env python3
"""Fetch throughput for bench/fetch.sh: the harness's Dovecot holds every
message of the corpus in bot's INBOX; `facteur run --once` (after: keep,
state on tmpfs, a fresh state each run) fetches and processes all of them
over IMAP and POP3 in clear (`tls: none`: Dovecot on the same host), over
IMAP with STARTTLS, IMAPS, and POP3 with STLS. Best of REPEAT runs each.

usage: fetch-bench.py CORPUS_DIR RULES_FILE"""
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'integration'))
from harness import Harness  # noqa: E402


def corpus(d):
    out = []
    for name in sorted(os.listdir(d)):
        if name.endswith('.eml'):
            with open(os.path.join(d, name), 'rb') as f:
                out.append(f.read())
    return out


def journal_rows(db):
    c = sqlite3.connect(db)
    try:
        return c.execute('SELECT count(*) FROM message').fetchone()[0]
    finally:
        c.close()


def main():
    cdir, rules = sys.argv[1], os.path.abspath(sys.argv[2])
    repeat = int(os.environ.get('REPEAT', '3'))
    exe = os.path.abspath(os.environ.get('FACTEUR',
                                         os.path.join(ROOT, 'facteur')))
    # FETCH_WRAP: a command to run facteur under, e.g. "perf record -g".
    wrap = os.environ.get('FETCH_WRAP', '').split()
    # FETCH_PROTOCOLS: a subset of the names below.
    only = os.environ.get('FETCH_PROTOCOLS',
                          'IMAP IMAP+STARTTLS IMAPS POP3 POP3+STLS').split()
    raws = corpus(cdir)
    size = sum(len(r) for r in raws)
    shm = tempfile.mkdtemp(prefix='facteur-bench-',
                           dir='/dev/shm' if os.path.isdir('/dev/shm')
                           else None)
    status = 0
    try:
        with Harness(smtp=False) as h:
            h.deliver_many('bot', raws)
            n = h.count('bot')
            print('fetch: %d messages, %.1f MB from %s; rules %s'
                  % (n, size / 1e6, cdir, rules))
            imap = 'imap://127.0.0.1:%d/INBOX' % h.ports['imap']
            pop3 = 'pop3://127.0.0.1:%d' % h.ports['pop3']
            for name, url, tls in (
                    ('IMAP', imap, 'none'),
                    ('IMAP+STARTTLS', imap, 'required'),
                    ('IMAPS', 'imaps://127.0.0.1:%d/INBOX'
                     % h.ports['imaps'], 'required'),
                    ('POP3', pop3, 'none'),
                    ('POP3+STLS', pop3, 'required')):
                if name not in only:
                    continue
                db = os.path.join(shm, 'state.db')
                # The rules' replies never run (no rule matches): the
                # smtp section is only there to make the config whole.
                cfg = h.write_config('''state: %s
smtp:
  url: smtps://127.0.0.1:9
  user: bot
  password: secret
  from: bot@example.test
accounts:
  - name: bench
    url: %s
    user: bot
    password: secret
    ca_file: %s
    tls: %s
    after: keep
    rules: [%s]
''' % (db, url, h.ca_file, tls, rules), 'bench.yaml')
                best = None
                for _ in range(repeat):
                    for suffix in ('', '-wal', '-shm'):
                        if os.path.exists(db + suffix):
                            os.unlink(db + suffix)
                    t0 = time.monotonic()
                    cp = subprocess.run(wrap + [exe, 'run', '--once', '-c',
                                         cfg],
                                        capture_output=True, text=True)
                    dt = time.monotonic() - t0
                    rows = journal_rows(db) if os.path.exists(db) else 0
                    if cp.returncode != 0 or rows != n:
                        print('fetch: %s: exit %d, %d of %d journaled:\n%s'
                              % (name, cp.returncode, rows, n,
                                 cp.stderr[-2000:]))
                        status = 1
                        break
                    best = dt if best is None or dt < best else best
                if best is not None:
                    print('fetch: %-13s %6.0f messages/s, %5.1f MB/s '
                          '(best of %d: %.3f s for %d messages, run --once '
                          'from start to exit)'
                          % (name, n / best, size / 1e6 / best, repeat, best,
                             n))
    finally:
        shutil.rmtree(shm, ignore_errors=True)
    sys.exit(status)


if __name__ == '__main__':
    main()
