#!/usr/bin/env python3
"""IDLE latency for bench/idle-latency.sh: `facteur run` in IDLE on the
harness's Dovecot; COUNT messages (default 20) submitted one by one through
Exim, each answered by a reply rule. Times, all taken in this process with
a monotonic clock, to the millisecond:

  accepted   Exim answered 250 to DATA (sendmail() returned)
  pushed     facteur logged "new mail pushed" (it read the EXISTS)
  done       facteur logged the message done (reply submitted, journaled)

facteur's log lines are read from a pipe as they are written (stderr is
unbuffered), so a line's time is when facteur wrote it, within the
scheduling delay of this reader. Reports the median and p95 of accepted ->
done (what a sender sees, including Exim's LMTP delivery and Dovecot's own
push delay) and pushed -> done (facteur's share: fetch, parse, rules,
journal, the reply over SMTP)."""
import os
import queue
import re
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'integration'))
from harness import Harness  # noqa: E402
from latency import RULES, message, pct  # noqa: E402

def main():
    count = int(os.environ.get('COUNT', '20'))
    exe = os.path.abspath(os.environ.get('FACTEUR',
                                         os.path.join(ROOT, 'facteur')))
    lines = queue.Queue()
    with Harness() as h:
        rules = os.path.join(h.tmp, 'facteur', 'rules.yaml')
        with open(rules, 'w') as f:
            f.write(RULES)
        state = os.path.join('/dev/shm' if os.path.isdir('/dev/shm')
                             else h.tmp, 'facteur-idle-%d.db' % os.getpid())
        cfg = h.write_config('''state: %(state)s
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
  - name: bot
    url: imaps://127.0.0.1:%(imaps)d/INBOX
    user: bot
    password: secret
    ca_file: %(ca)s
    watch: idle
    poll: 3600s
    rules: [%(rules)s]
''' % dict(state=state, smtps=h.ports['smtps'], imaps=h.ports['imaps'],
           ca=h.ca_file, rules=rules))
        p = subprocess.Popen([exe, 'run', '-v', '-c', cfg],
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, cwd=h.tmp,
                             start_new_session=True)
        h._record_pgid(p.pid)

        def reader():
            for raw in p.stderr:
                lines.put((time.monotonic(), raw.decode('utf-8',
                                                        'replace')))
            lines.put((time.monotonic(), None))
        threading.Thread(target=reader, daemon=True).start()

        def wait_line(pattern, timeout=30):
            deadline = time.monotonic() + timeout
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SystemExit('idle-latency: no line /%s/ in %d s'
                                     % (pattern, timeout))
                try:
                    t, line = lines.get(timeout=left)
                except queue.Empty:
                    continue
                if line is None:
                    raise SystemExit('idle-latency: facteur exited')
                if re.search(pattern, line):
                    return t

        total, share, push = [], [], []
        try:
            wait_line(r'> F\d+ IDLE')
            for n in range(1, count + 1):
                c = h.smtp('bot')
                c.sendmail('alice@example.test', ['bot@example.test'],
                           message(n))
                accepted = time.monotonic()
                c.quit()
                pushed = wait_line(r'bot: new mail pushed')
                done = wait_line(r'<lat-%d@example\.test>: .*; done '
                                 r'\(journal' % n)
                # Back in IDLE before the next one.
                wait_line(r'> F\d+ IDLE')
                total.append((done - accepted) * 1000)
                share.append((done - pushed) * 1000)
                push.append((pushed - accepted) * 1000)
        finally:
            p.terminate()
            p.wait(30)
            for suffix in ('', '-wal', '-shm'):
                if os.path.exists(state + suffix):
                    os.unlink(state + suffix)
    print('idle: %d messages, one at a time, reply rule, IMAPS IDLE, '
          'SMTP through Exim' % count)
    print('idle: SMTP accepted -> action done: median %.0f ms, p95 %.0f ms'
          % (pct(total, 50), pct(total, 95)))
    print('idle:   of which accepted -> EXISTS read (Exim LMTP delivery, '
          'Dovecot push): median %.0f ms, p95 %.0f ms'
          % (pct(push, 50), pct(push, 95)))
    print('idle:   EXISTS read -> action done (facteur): median %.1f ms, '
          'p95 %.1f ms' % (pct(share, 50), pct(share, 95)))


if __name__ == '__main__':
    main()
