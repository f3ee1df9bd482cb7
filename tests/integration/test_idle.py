#!/usr/bin/env python3
"""`facteur run` as a daemon with watch: idle. The poll interval is an hour,
so a reply within seconds can only come from IDLE push. The IMAP server is
restarted under it: facteur reconnects, resyncs, and misses nothing. SIGTERM
ends it cleanly."""
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Harness, Tap, numbered  # noqa: E402

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
            'Subject: ping %d\r\nMessage-ID: <ping-%d@example.test>\r\n\r\n'
            'ping\r\n' % (n, n)).encode()



def wait_pongs(h, want, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pongs(h) == want:
            return True
        time.sleep(0.05)
    return False


def main():
    t = Tap()
    with Harness() as h:
        t.harness = h
        rules = os.path.join(h.tmp, 'facteur', 'rules.yaml')
        with open(rules, 'w') as f:
            f.write(RULES)
        cfg = h.write_config('''state: %(tmp)s/facteur/state.db
smtp:
  url: smtps://127.0.0.1:%(smtps)d
  user: bot
  password: secret
  from: bot@example.test
  ca_file: %(ca)s
accounts:
  - name: bot
    url: imaps://127.0.0.1:%(imaps)d/INBOX
    user: bot
    password: secret
    ca_file: %(ca)s
    watch: idle
    poll: 3600s
    rules: [%(rules)s]
''' % dict(tmp=h.tmp, smtps=h.ports['smtps'], imaps=h.ports['imaps'],
           ca=h.ca_file, rules=rules))
        exe = os.path.abspath(os.environ.get('FACTEUR', './facteur'))
        log = open(os.path.join(h.tmp, 'facteur', 'daemon.log'), 'w+')
        p = subprocess.Popen([exe, 'run', '-v', '-c', cfg], stdout=log,
                             stderr=subprocess.STDOUT, cwd=h.tmp,
                             start_new_session=True)
        h._record_pgid(p.pid)
        try:
            # Wait until it is in IDLE: its -v log shows the command.
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and p.poll() is None:
                log.seek(0)
                if re.search(r'> F\d+ IDLE', log.read()):
                    break
                time.sleep(0.05)
            h.deliver('bot', message(1))
            t0 = time.monotonic()
            ok = wait_pongs(h, [1], 20)
            t.ok(ok, 'a pushed message is answered without polling',
                 'pongs: %r' % pongs(h))
            if ok:
                t.diag('push -> reply in mailbox: %.0f ms' %
                       ((time.monotonic() - t0) * 1000))

            h.stop_dovecot()
            h.start_dovecot()
            h.deliver('bot', message(2))
            # Reconnection backoff starts at 5 s (+ jitter).
            t.ok(wait_pongs(h, [1, 2], 45),
                 'after an IMAP server restart, new mail is still answered',
                 'pongs: %r' % pongs(h))

            h.deliver('bot', message(3))
            h.deliver('bot', message(4))
            t.ok(wait_pongs(h, [1, 2, 3, 4], 20),
                 'two more pushed messages answered once each',
                 'pongs: %r' % pongs(h))
        finally:
            p.send_signal(signal.SIGTERM)
            try:
                rc = p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                rc = 'timeout'
        t.eq(rc, 0, 'SIGTERM ends the daemon cleanly with status 0')
        t.eq(pongs(h), [1, 2, 3, 4], 'no message answered twice')
        log.seek(0)
        text = log.read()
        t.ok('secret' not in text, 'the password never appears in the log')
        if t.failed:
            t.diag(text[-4000:])
    t.done()


if __name__ == '__main__':
    main()
