#!/usr/bin/env python3
"""Mail announced while an IDLE account syncs is not left for the refresh.

A scripted server (a real one cannot be timed this finely) holds one
message. When facteur enters IDLE after its first sync, the server answers
the IDLE command with "* 2 EXISTS" for a message that arrived meanwhile,
before its "+ idling", and says nothing more. The daemon must fetch it at
once: a server announces new mail once, and the next full sync would only
come with the refresh, minutes later.
"""
import os
import signal
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Harness, Tap  # noqa: E402
from fakeimap import FakeImap  # noqa: E402

RULES = '''rules:
  - name: mark
    if: {subject: 'note'}
    then:
      - flag: {add: [noted]}
'''


def message(n):
    return (b'From: bob@example.test\r\nTo: bot@example.test\r\n'
            b'Subject: note %d\r\nMessage-ID: <race-%d@example.test>\r\n'
            b'\r\nhello\r\n' % (n, n))


def journal(state):
    if not os.path.exists(state):
        return []
    db = sqlite3.connect(state, timeout=5)
    try:
        return [r[0] for r in db.execute(
            "SELECT key FROM message WHERE status = 2 ORDER BY id")]
    except sqlite3.OperationalError:
        return []
    finally:
        db.close()


def main():
    t = Tap()
    with Harness(smtp=False) as h, \
            FakeImap(h.cert_file, h.key_file, {1: message(1)},
                     idle=True) as srv:
        t.harness = h

        def on_idle(server):
            if server.idles == 0:
                server.messages[2] = message(2)
                return b'* 2 EXISTS\r\n'
            return b''
        srv.on_idle = on_idle
        rules = os.path.join(h.tmp, 'facteur', 'rules.yaml')
        with open(rules, 'w') as f:
            f.write(RULES)
        state = os.path.join(h.tmp, 'facteur', 'race.db')
        cfg = h.write_config('''state: %s
accounts:
  - name: race
    url: %s
    user: bot
    password: secret
    ca_file: %s
    watch: idle
    rules: [%s]
''' % (state, srv.url(), h.ca_file, rules), name='race.yaml')
        exe = os.path.abspath(os.environ.get('FACTEUR') or './facteur')
        p = subprocess.Popen([exe, 'run', '-c', cfg, '-v'],
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
        h._record_pgid(p.pid)
        try:
            end = time.monotonic() + 20
            while len(journal(state)) < 2 and time.monotonic() < end:
                time.sleep(0.1)
            got = journal(state)
        finally:
            p.send_signal(signal.SIGTERM)
            try:
                _, err = p.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                _, err = p.communicate()
        t.eq(got, ['42/1', '42/2'], 'the message announced before IDLE began '
             'is processed at once, not at the refresh')
        if got != ['42/1', '42/2']:
            t.diag(err[-3000:])
        t.ok(srv.idles >= 2, 'the daemon synced again, then went back '
             'to IDLE (%d IDLE commands)' % srv.idles)
        t.eq(p.returncode, 0, 'SIGTERM: exit 0')
    t.done()


if __name__ == '__main__':
    main()
