#!/usr/bin/env python3
"""MTA-path latency for bench/deliver-latency.sh: the harness's Exim
routes bot@example.test through a pipe transport to `facteur deliver`
(no Dovecot, no IDLE); COUNT messages (default 20) submitted one by one
through Exim, each answered by the reply rule of bench/idle-latency.py,
whose reply goes out through Exim's submission port (SMTPS). Times, all
taken in this process with a monotonic clock, to the millisecond:

  accepted   Exim answered 250 to DATA (as sendmail() returns in
             bench/idle-latency.py)
  started    the pipe's command started: it is `/bin/sh -c`, which
             sends its stderr to a FIFO this process reads, writes one
             line there and execs facteur (the shell's own start, about
             a millisecond, counts in Exim's share)
  done       facteur logged the message done (reply submitted, journaled)

facteur's log lines come through the same FIFO as it writes them
(stderr is unbuffered), so a line's time is when it was written, within
the scheduling delay of this reader. The next message is sent once Exim
has logged the delivery Completed (facteur exited 0). Reports the median
and p95 of accepted -> done, accepted -> started (Exim: its delivery
process, routing, the pipe) and started -> done (facteur: start-up,
config, journal, parse, rules, the reply over SMTP). Then COUNT more
messages go to the same `facteur deliver` run directly, for its CPU time
per message, which the machine's load stretches less than wall times."""
import os
import queue
import re
import resource
import shutil
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'integration'))
from harness import Harness, wait_until  # noqa: E402
from latency import RULES, message, pct  # noqa: E402

def deliver_cpu(exe, h, count):
    """facteur's CPU time (user+sys, ms) for each of COUNT more messages,
    the same command run directly as Exim's user: a figure the machine's
    load does not stretch as it does wall times."""
    cfg = os.path.join(h.tmp, 'facteur', 'facteur.yaml')
    out = []
    for n in range(count + 1, 2 * count + 1):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        p = subprocess.run([exe, 'deliver', '-c', cfg, '-a', 'bot'],
                           input=message(n), capture_output=True,
                           user=h.exim_uid, group=h.exim_gid, timeout=60)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if p.returncode != 0:
            raise SystemExit('deliver-latency: deliver exited %d: %s'
                             % (p.returncode, p.stderr.decode()[-2000:]))
        out.append((after.ru_utime + after.ru_stime - before.ru_utime -
                    before.ru_stime) * 1000)
    return out


def main():
    count = int(os.environ.get('COUNT', '20'))
    exe = os.path.abspath(os.environ.get('FACTEUR',
                                         os.path.join(ROOT, 'facteur')))
    # The journal on tmpfs, as in bench/idle-latency.py, in a directory
    # of the user Exim runs the pipe as.
    state_dir = os.path.join('/dev/shm' if os.path.isdir('/dev/shm')
                             else '/tmp', 'facteur-deliver-%d' % os.getpid())
    fifo = '{tmp}/pipe/log.fifo'
    cfg = '{tmp}/facteur/facteur.yaml'
    pipe = {'local_part': 'bot', 'use_shell': True,
            'command': 'exec 2>>%s; echo "started $message_id" >&2; '
                       'exec %s deliver -c %s -a bot' % (fifo, exe, cfg)}
    lines = queue.Queue()
    total, exim, share = [], [], []
    with Harness(exim_pipe=pipe) as h:
        os.mkdir(state_dir)
        try:
            os.chown(state_dir, h.exim_uid, h.exim_gid)
            fifo = fifo.replace('{tmp}', h.tmp)
            os.mkfifo(fifo, 0o600)
            os.chown(fifo, h.exim_uid, h.exim_gid)
            # Read and write: never an end of file between two writers.
            fd = os.open(fifo, os.O_RDWR)
            rules = os.path.join(h.tmp, 'facteur', 'rules.yaml')
            with open(rules, 'w') as f:
                f.write(RULES)
            h.write_config('''state: %(state)s/state.db
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
    url: maildir:%(state)s/bot
    rules: [%(rules)s]
''' % dict(state=state_dir, smtps=h.ports['smtps'], ca=h.ca_file,
           rules=rules))

            def reader():
                buf = b''
                while True:
                    b = os.read(fd, 65536)
                    t = time.monotonic()
                    buf += b
                    while b'\n' in buf:
                        line, buf = buf.split(b'\n', 1)
                        lines.put((t, line.decode('utf-8', 'replace')))
            threading.Thread(target=reader, daemon=True).start()

            def wait_line(pattern, timeout=30):
                deadline = time.monotonic() + timeout
                while True:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise SystemExit('deliver-latency: no line /%s/ '
                                         'in %d s; Exim:\n%s' % (
                                             pattern, timeout,
                                             h.log('smtp')[-3000:]))
                    try:
                        t, line = lines.get(timeout=left)
                    except queue.Empty:
                        continue
                    if re.search(pattern, line):
                        return t

            def mainlog():
                with open(os.path.join(h.tmp, 'exim', 'mainlog')) as f:
                    return f.read()

            for n in range(1, count + 1):
                c = h.smtp('bot')
                c.mail('alice@example.test')
                c.rcpt('bot@example.test')
                code, resp = c.data(message(n))
                accepted = time.monotonic()
                c.quit()
                m = re.search(rb'id=(\S+)', resp)
                if code != 250 or not m:
                    raise SystemExit('deliver-latency: DATA: %d %r'
                                     % (code, resp))
                eid = m.group(1).decode()
                started = wait_line(r'^started %s$' % re.escape(eid))
                done = wait_line(r'<lat-%d@example\.test>: .*; done '
                                 r'\(journal' % n)
                # facteur exited 0 and Exim logged it before the next one.
                if not wait_until(lambda: ' %s Completed' % eid in
                                  mainlog(), timeout=30, step=0.005):
                    raise SystemExit('deliver-latency: %s not completed; '
                                     'Exim:\n%s' % (eid, mainlog()[-3000:]))
                if re.search(r' %s (==|\*\*) ' % eid, mainlog()):
                    raise SystemExit('deliver-latency: %s deferred or '
                                     'failed; Exim:\n%s'
                                     % (eid, mainlog()[-3000:]))
                total.append((done - accepted) * 1000)
                exim.append((started - accepted) * 1000)
                share.append((done - started) * 1000)
            replies = len(re.findall(r'<= bot@example\.test .* T="pong \d+"',
                                     mainlog()))
            if replies != count:
                raise SystemExit('deliver-latency: %d replies submitted, '
                                 'wanted %d' % (replies, count))
            cpu = deliver_cpu(exe, h, count)
        finally:
            shutil.rmtree(state_dir, ignore_errors=True)
    print('deliver: %d messages, one at a time, reply rule, Exim pipe '
          'transport to facteur deliver, reply over SMTPS through Exim'
          % count)
    print('deliver: SMTP accepted -> action done: median %.0f ms, '
          'p95 %.0f ms' % (pct(total, 50), pct(total, 95)))
    print('deliver:   of which accepted -> facteur started (Exim: delivery '
          'process, router, pipe): median %.1f ms, p95 %.1f ms'
          % (pct(exim, 50), pct(exim, 95)))
    print('deliver:   facteur started -> action done (facteur): median '
          '%.1f ms, p95 %.1f ms' % (pct(share, 50), pct(share, 95)))
    print('deliver: facteur CPU (user+sys) per message, %d more run '
          'directly: median %.1f ms, least %.1f ms'
          % (count, pct(cpu, 50), min(cpu)))


if __name__ == '__main__':
    main()
