#!/usr/bin/env python3
"""One slow or dead server never stalls the other accounts.

Two mail systems (two harnesses: Dovecot + Exim each), one `facteur run`
daemon with three accounts: `a` (IMAP, bot) and `p` (POP3, bob) on the
first Dovecot, polled every second (so they are always about to talk to
their server), replying through the first Exim; `b` on the second
Dovecot in IDLE, whose mail needs no action: the time until its journal
row says done is the measure.

1. The first Dovecot is frozen (SIGSTOP of its process group) while `a` and
   `p` are connected to it: mail for `b` is still processed within seconds
   (the timeouts that would free `a` and `p` are 30 s and more). After
   SIGCONT, `a` and `p` answer what arrived for them, once each.
2. The first Exim is frozen while `a` sends a reply through it: `b` still
   processes its mail within seconds; after SIGCONT the reply goes out, once.
3. SIGTERM while `a` is stuck on its frozen Dovecot: the daemon exits at
   once (a short grace), not after the server's timeouts.
"""
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Harness, Tap, numbered, wait_until  # noqa: E402

RULES_A = r'''rules:
  - name: ping
    if: {subject: '^ping (?<n>[0-9]+)$'}
    then:
      - reply: {subject: "pong {{n}}", body: "pong {{n}}\n"}
'''

# Nothing to do for b's notes: each is journaled as done, which the
# test reads from the state file.
RULES_B = r'''rules:
  - name: never
    if: {subject: '^never$'}
    then:
      - reply: {subject: "never", body: "never\n"}
'''
STATE_DONE = 2      # enum state_msg_status in src/state.h

# Far enough under the 30 s read timeout and 30 s connect timeout that a
# stall behind the frozen server cannot pass, far enough above the ~0.5 s
# Dovecot takes to push an IDLE update that a loaded machine does.
FAST = 5.0


def pongs(h):
    """The numbers of the pong replies in alice's INBOX."""
    return numbered(h, 'alice', 'pong')

def message(subject, n):
    return ('From: Alice <alice@example.test>\r\nTo: bot@example.test\r\n'
            'Subject: %s\r\nMessage-ID: <stall-%d@example.test>\r\n\r\n'
            'hello\r\n' % (subject, n)).encode()




def journal_b(db):
    """b's journal rows: (key, status)."""
    if not os.path.exists(db):
        return []
    c = sqlite3.connect('file:%s?mode=ro' % db, uri=True, timeout=5)
    try:
        return c.execute("SELECT key, status FROM message "
                         "WHERE account = 'b' ORDER BY key").fetchall()
    except sqlite3.OperationalError:
        return []       # not created yet
    finally:
        c.close()


def done_b(db):
    return sum(1 for _, s in journal_b(db) if s == STATE_DONE)


def connected_to(pid, port):
    """Is process pid holding an established TCP connection to port?"""
    out = subprocess.run(['ss', '-tnpH', 'state', 'established',
                          'dport', '= :%d' % port],
                         capture_output=True, text=True).stdout
    return 'pid=%d,' % pid in out


def main():
    t = Tap()
    # Dovecot pushes IDLE updates from inotify about 0.5 s after a change;
    # without inotify (no instances left on a busy machine) it checks
    # every mailbox_idle_check_interval, 30 s by default: 1 s here, so
    # that b's times measure facteur, not Dovecot's fallback.
    with Harness() as ha, \
            Harness(smtp=False,
                    dovecot_extra='mailbox_idle_check_interval = 1s\n') as hb:
        t.harness = ha
        db = os.path.join(ha.tmp, 'facteur', 'state.db')
        ra = os.path.join(ha.tmp, 'facteur', 'a.yaml')
        rb = os.path.join(ha.tmp, 'facteur', 'b.yaml')
        with open(ra, 'w') as f:
            f.write(RULES_A)
        with open(rb, 'w') as f:
            f.write(RULES_B)
        cfg = ha.write_config('''state: %(tmp)s/facteur/state.db
smtp:
  url: smtps://127.0.0.1:%(smtps)d
  user: bot
  password: secret
  from: bot@example.test
  ca_file: %(ca)s
accounts:
  - name: a
    url: imap://127.0.0.1:%(imap_a)d/INBOX
    user: bot
    password: secret
    ca_file: %(ca)s
    watch: poll
    poll: 1s
    rules: [%(ra)s]
  - name: p
    url: pop3://127.0.0.1:%(pop3_a)d
    user: bob
    password: secret
    ca_file: %(ca)s
    watch: poll
    poll: 1s
    rules: [%(ra)s]
  - name: b
    url: imaps://127.0.0.1:%(imaps_b)d/INBOX
    user: bot
    password: secret
    ca_file: %(cb)s
    watch: idle
    poll: 3600s
    rules: [%(rb)s]
''' % dict(tmp=ha.tmp, smtps=ha.ports['smtps'], imap_a=ha.ports['imap'],
           pop3_a=ha.ports['pop3'],
           imaps_b=hb.ports['imaps'], ca=ha.ca_file, cb=hb.ca_file,
           ra=ra, rb=rb))
        exe = os.path.abspath(os.environ.get('FACTEUR', './facteur'))
        log = open(os.path.join(ha.tmp, 'facteur', 'daemon.log'), 'w+')
        p = subprocess.Popen([exe, 'run', '-v', '-c', cfg], stdout=log,
                             stderr=subprocess.STDOUT, cwd=ha.tmp,
                             start_new_session=True)
        ha._record_pgid(p.pid)
        hb._record_pgid(p.pid)
        notes = [0]

        def note_done_within(what):
            """Deliver one note to b; seconds until it is journaled done."""
            notes[0] += 1
            want = notes[0]
            hb.deliver('bot', message('note %d' % want, 1000 + want))
            t0 = time.monotonic()
            ok = wait_until(lambda: done_b(db) >= want, 40, step=0.02)
            dt = time.monotonic() - t0
            t.diag('%s: note for b done in %.0f ms' % (what, dt * 1000))
            return ok, dt

        def log_text():
            log.seek(0)
            return log.read()

        try:
            ok = wait_until(lambda: re.search(r'b: > F\d+ IDLE', log_text())
                            and re.search(r'a: synced', log_text()), 20)
            t.ok(ok, 'both accounts are up (b in IDLE, a polling)')

            ha.deliver('bot', message('ping 1', 1))
            ha.deliver('bob', message('ping 101', 101))
            t.ok(wait_until(lambda: pongs(ha) == [1, 101], 20, step=0.02),
                 'a and p answer before any freeze', 'pongs: %r' % pongs(ha))
            ok, dt = note_done_within('no freeze')
            t.ok(ok and dt < FAST, 'b processes a note before any freeze')

            # 1. The IMAP server of a stops answering.
            ha.deliver('bot', message('ping 2', 2))
            ha.deliver('bob', message('ping 102', 102))
            ha.pause('dovecot')
            try:
                t.ok(wait_until(lambda: connected_to(p.pid,
                                                     ha.ports['imap']),
                                10, step=0.02),
                     'a is connected to its frozen IMAP server')
                t.ok(wait_until(lambda: connected_to(p.pid,
                                                     ha.ports['pop3']),
                                10, step=0.02),
                     'p is connected to its frozen POP3 server')
                for i in range(3):
                    ok, dt = note_done_within('Dovecot of a and p frozen')
                    t.ok(ok and dt < FAST,
                         'Dovecot of a and p frozen: note %d for b done '
                         'in %.1f s '
                         '(< %.0f s)' % (i + 1, dt, FAST))
                t.ok(p.poll() is None, 'the daemon still runs')
            finally:
                ha.resume('dovecot')
            ha.deliver('bot', message('ping 3', 3))
            # a's stuck command times out (30 s), then a reconnects after
            # its backoff (5 s and jitter).
            t.ok(wait_until(lambda: pongs(ha) == [1, 2, 3, 101, 102], 90,
                            0.2),
                 'after their server resumes, a and p answer what came '
                 'in meanwhile', 'pongs: %r' % pongs(ha))

            # 2. The SMTP server a replies through stops answering.
            ha.pause('smtp')
            try:
                ha.deliver('bot', message('ping 4', 4))
                t.ok(wait_until(lambda: connected_to(p.pid,
                                                     ha.ports['smtps']),
                                10, step=0.02),
                     'a is sending its reply to the frozen SMTP server')
                for i in range(3):
                    ok, dt = note_done_within('SMTP frozen')
                    t.ok(ok and dt < FAST,
                         'SMTP frozen: note %d for b done in %.1f s '
                         '(< %.0f s)' % (i + 1, dt, FAST))
            finally:
                ha.resume('smtp')
            t.ok(wait_until(lambda: pongs(ha) == [1, 2, 3, 4, 101, 102], 60,
                            0.2),
                 'after the SMTP server resumes, the reply goes out',
                 'pongs: %r' % pongs(ha))

            # 3. SIGTERM while a is stuck on its frozen IMAP server: the
            # exit does not wait for a's 30 s read timeout.
            ha.pause('dovecot')
            try:
                t.ok(wait_until(lambda: connected_to(p.pid,
                                                     ha.ports['imap']),
                                10, step=0.02),
                     'a is connected to its frozen IMAP server again')
                t0 = time.monotonic()
                p.send_signal(signal.SIGTERM)
                try:
                    rc = p.wait(timeout=40)
                except subprocess.TimeoutExpired:
                    rc = 'timeout'
                dt = time.monotonic() - t0
                t.diag('SIGTERM -> exit with a frozen server: %.0f ms'
                       % (dt * 1000))
                t.ok(dt < FAST, 'SIGTERM with a frozen server: the daemon '
                     'exits in %.1f s (< %.0f s)' % (dt, FAST))
            finally:
                ha.resume('dovecot')
        finally:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    rc = p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    rc = 'timeout'
        t.eq(rc, 0, 'SIGTERM ends the daemon cleanly with status 0')
        t.eq(pongs(ha), [1, 2, 3, 4, 101, 102],
             'every ping answered exactly once')
        # The key is UIDVALIDITY/UID; UIDs from 1 in a new mailbox.
        t.eq(sorted(int(k.split('/')[1]) for k, s in journal_b(db)),
             list(range(1, notes[0] + 1)),
             'every note for b journaled exactly once, none missing')
        t.eq(done_b(db), notes[0], 'all of them done')
        if t.failed:
            t.diag(log_text()[-6000:])
    t.done()


if __name__ == '__main__':
    main()
