#!/usr/bin/env python3
"""Many mailboxes watched by IDLE, for bench/idle-many.sh.

Starts the test harness's Dovecot (tests/integration/harness.py) with N
users u0001..uN and the process limits N sessions need, writes a config
with N IMAPS accounts `watch: idle` sharing one rules file (state in the
harness's temp dir), and starts `facteur run -v`. Once every account has
sent IDLE (its -v log) and N connections of the process to the IMAPS port
are ESTABLISHED (ss), and the process sleeps in poll, it measures: VmRSS,
VmHWM and Pss (/proc/PID/status, smaps_rollup), then CPU (utime + stime
from /proc/PID/stat) over WINDOW seconds of waiting, then RSS again. Then
SIGTERM, which must end it with status 0. Everything started is stopped
on exit or failure (the harness, and the process group of facteur).

Usage: idle-many-run.py RULES.yaml [N] [WINDOW]
Prints `key value` lines. Env: FACTEUR (default ./facteur), FACTEUR_NOFILE
(facteur's RLIMIT_NOFILE, default: inherited)."""
import os
import pwd
import re
import resource
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'tests',
                                'integration'))
from harness import Harness  # noqa: E402

TICK = os.sysconf('SC_CLK_TCK')


def config(h, n, rules):
    out = ['state: %s/facteur/state.db' % h.tmp, 'accounts:']
    for i in range(1, n + 1):
        out.append('''  - name: u%(i)04d
    url: imaps://127.0.0.1:%(port)d/INBOX
    user: u%(i)04d
    password: secret
    ca_file: %(ca)s
    watch: idle
    poll: 3600s
    rules: [%(rules)s]''' % dict(i=i, port=h.ports['imaps'], ca=h.ca_file,
                                 rules=rules))
    return '\n'.join(out) + '\n'


def facteur_nofile():
    """In the child: FACTEUR_NOFILE, when set, is facteur's soft limit on
    open files (Dovecot keeps the script's)."""
    n = os.environ.get('FACTEUR_NOFILE')
    if n:
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        resource.setrlimit(resource.RLIMIT_NOFILE, (int(n), hard))


def cpu_ticks(pid):
    with open('/proc/%d/stat' % pid) as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return int(fields[11]) + int(fields[12])      # utime, stime


def status(pid):
    out = {}
    with open('/proc/%d/status' % pid) as f:
        for l in f:
            k, _, v = l.partition(':')
            if v.strip().endswith('kB'):
                out[k] = int(v.split()[0])
    with open('/proc/%d/smaps_rollup' % pid) as f:
        for l in f:
            if l.startswith('Pss:'):
                out['Pss'] = int(l.split()[1])
    return out


def established(pid, port):
    """Connections of pid to port that are ESTABLISHED."""
    r = subprocess.run(['ss', '-tnpH', 'state', 'established',
                        'dport = :%d' % port],
                       capture_output=True, text=True, check=True)
    return sum(1 for l in r.stdout.splitlines()
               if 'pid=%d,' % pid in l)


def wchan(pid):
    try:
        with open('/proc/%d/wchan' % pid) as f:
            return f.read()
    except OSError:
        return ''


def say(k, v):
    print('%s %s' % (k, v))
    sys.stdout.flush()


def fail(msg, log=None):
    sys.stderr.write('idle-many: %s\n' % msg)
    if log:
        log.seek(0)
        tail = log.read()[-3000:]
        sys.stderr.write(tail)
    sys.exit(1)


def missing(h, p, log, seen, n):
    """Fail, saying which accounts are not in IDLE and what they logged."""
    names = ['u%04d' % i for i in range(1, n + 1)]
    lost = [u for u in names if u not in seen]
    log.seek(0)
    lines = log.read().splitlines()
    out = ['%d of %d accounts in IDLE after 180 s; %d connections; '
           'not in IDLE: %s' % (len(seen), n,
                                established(p.pid, h.ports['imaps']),
                                ' '.join(lost[:20]))]
    for u in lost[:5]:
        out += [l for l in lines if re.search(r'\b%s\b' % u, l)][-10:]
    out += [l for l in lines if 'retrying' in l or 'rror' in l][-20:]
    out.append('--- dovecot log')
    out += h.log('dovecot').splitlines()[-20:]
    fail('\n'.join(out))


def main():
    if len(sys.argv) not in (2, 3, 4):
        sys.stderr.write('usage: idle-many-run.py RULES.yaml [N] [WINDOW]\n')
        sys.exit(64)
    rules = os.path.abspath(sys.argv[1])
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    window = float(sys.argv[3]) if len(sys.argv) > 3 else 60
    exe = os.path.abspath(os.environ.get('FACTEUR', './facteur'))
    users = ['u%04d' % i for i in range(1, n + 1)]
    # One imap process per session, and each process also holds a
    # connection to the log, config and anvil services: raise both limits
    # above N. TLS sessions stay in their login process: run a few
    # login processes that each take many clients.
    limits = dict(process_limit=n + 100, client_limit=2 * n + 300,
                  login_processes=4)
    # Dovecot takes an inotify instance per IDLE session, counted per
    # user: keep ours apart from the integration tests' user.
    try:
        pwd.getpwnam('nobody')
        limits['mail_user'] = 'nobody'
    except KeyError:
        pass
    say('dovecot', ' '.join('%s=%s' % kv for kv in sorted(limits.items())))
    say('nofile', os.environ.get('FACTEUR_NOFILE') or
        os.sysconf('SC_OPEN_MAX'))
    t = time.monotonic()
    with Harness(users=users, smtp=False, **limits) as h:
        say('harness_s', '%.1f' % (time.monotonic() - t))
        cfg = h.write_config(config(h, n, rules))
        path = os.path.join(h.tmp, 'facteur', 'daemon.log')
        # facteur writes with O_APPEND; the reader has its own offset, so
        # reading never moves where the next line is written.
        with open(path, 'a') as out:
            t0 = time.monotonic()
            p = subprocess.Popen([exe, 'run', '-v', '-c', cfg], stdout=out,
                                 stderr=subprocess.STDOUT, cwd=h.tmp,
                                 start_new_session=True,
                                 preexec_fn=facteur_nofile)
        log = open(path)
        h._record_pgid(p.pid)
        try:
            run(h, p, log, n, window, t0)
        finally:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    pass
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass
            p.wait()
            log.close()


def run(h, p, log, n, window, t0):
    idle_re = re.compile(r'\b(u\d{4,}): > \S+ IDLE$', re.M)
    seen = set()
    pos = 0
    deadline = t0 + 180
    while len(seen) < n:
        if p.poll() is not None:
            fail('facteur exited with %s before all were in IDLE'
                 % p.returncode, log)
        if time.monotonic() > deadline:
            missing(h, p, log, seen, n)
        log.seek(pos)
        text = log.read()
        cut = text.rfind('\n') + 1      # whole lines only
        pos += len(text[:cut].encode())
        seen.update(idle_re.findall(text[:cut]))
        time.sleep(0.1)
    # The last IDLE is sent; its continuation comes within the read
    # timeout. Wait until the process sleeps in poll() with every
    # connection up.
    while True:
        conns = established(p.pid, h.ports['imaps'])
        if conns == n and 'poll' in wchan(p.pid):
            break
        if time.monotonic() > deadline:
            fail('%d connections, wchan %r, after 180 s'
                 % (conns, wchan(p.pid)), log)
        time.sleep(0.1)
    t_idle = time.monotonic() - t0
    ticks_start = cpu_ticks(p.pid)
    say('all_idle_s', '%.1f' % t_idle)
    say('startup_cpu_s', '%.2f' % (ticks_start / TICK))
    say('connections', conns)
    say('fds', len(os.listdir('/proc/%d/fd' % p.pid)))
    st = status(p.pid)
    for k in ('VmRSS', 'VmHWM', 'Pss', 'RssAnon', 'RssFile', 'VmData'):
        say(k, st.get(k, 0))
    # IDLE_MANY_STRACE=FILE: what the daemon does in the window, for
    # finding where idle CPU goes (strace's own cost is counted too).
    trace = None
    if os.environ.get('IDLE_MANY_STRACE'):
        trace = subprocess.Popen(['strace', '-tt', '-p', str(p.pid), '-o',
                                  os.environ['IDLE_MANY_STRACE']],
                                 stderr=subprocess.DEVNULL)
    w0 = time.monotonic()
    c0 = cpu_ticks(p.pid)
    # The measurement window itself: the daemon is left alone.
    time.sleep(window)
    c1 = cpu_ticks(p.pid)
    w1 = time.monotonic()
    if trace is not None:
        trace.terminate()
        trace.wait()
    if p.poll() is not None:
        fail('facteur exited with %s while idle' % p.returncode, log)
    say('window_s', '%.1f' % (w1 - w0))
    say('idle_cpu_ticks', c1 - c0)
    say('idle_cpu_pct', '%.3f' % ((c1 - c0) / TICK / (w1 - w0) * 100))
    st = status(p.pid)
    say('VmRSS_end', st.get('VmRSS', 0))
    say('connections_end', established(p.pid, h.ports['imaps']))
    log.seek(0)
    text = log.read()
    say('warnings', len(re.findall(r'retrying in', text)))
    say('emfile', len(re.findall(r'Too many open files|EMFILE', text)))
    s0 = time.monotonic()
    p.send_signal(signal.SIGTERM)
    try:
        rc = p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        fail('SIGTERM did not end facteur within 60 s', log)
    say('stop_s', '%.1f' % (time.monotonic() - s0))
    say('exit', rc)


if __name__ == '__main__':
    main()
