#!/usr/bin/env python3
"""run: messages read over IMAP from the harness's Dovecot start a probe
program (bin/probe.py next to the rules) that records what it got: argv,
stdin, environment, working directory, open descriptors. Checked: a
capture full of shell syntax arrives as one argv element; the four stdin
modes; FACTEUR_* variables and the rule's env; the timeout kills the
program and its grandchild, and the journal retries it; exit 75 retried,
exit 1 failed for good; a program that floods its output and never reads
its stdin neither blocks facteur nor floods the log.

Retries: the journal schedules a temporary failure 30 s or more ahead
(src/run.c). Rather than wait, the test moves the action's next_attempt
into the past in the state file (sqlite3) before the next `run --once`."""
import base64
import email
import email.policy
import json
import os
import signal
import stat
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Harness, Tap, action_row, retry_now,  # noqa: E402
                     wait_until)

PROBE = r'''#!/usr/bin/env python3
import base64, json, os, signal, subprocess, sys, time
out = os.environ['PROBE_DIR']
rule = os.environ['FACTEUR_RULE']

def count():
    p = os.path.join(out, rule + '.count')
    n = int(open(p).read()) + 1 if os.path.exists(p) else 1
    open(p, 'w').write(str(n))
    return n

if rule == 'timeout':
    marker = os.path.join(out, 'timeout.marker')
    if os.path.exists(marker):
        sys.exit(0)
    open(marker, 'w').close()
    g = subprocess.Popen(['sleep', '300'])
    open(os.path.join(out, 'grandchild.pid'), 'w').write(str(g.pid))
    open(os.path.join(out, 'child.pid'), 'w').write(str(os.getpid()))
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    time.sleep(300)
    sys.exit(0)
if rule == 'daemon':
    g = subprocess.Popen(['sleep', '300'])     # keeps stdout open
    open(os.path.join(out, 'daemon.pid'), 'w').write(str(g.pid))
    print('started', flush=True)
    sys.exit(0)
if rule == 'tempfail':
    n = count()
    print('try again later (attempt %d)' % n, flush=True)
    sys.exit(75 if n == 1 else 0)
if rule == 'fail':
    count()
    print('boom', file=sys.stderr, flush=True)
    sys.exit(1)
if rule == 'noisy':
    line = 'noise %06d ' + 'x' * 40 + '\n'
    sys.stdout.write(''.join(line % i for i in range(100000)))
    sys.stdout.write('LAST-LINE\n')
    sys.exit(0)

fds = {}
for fd in os.listdir('/proc/self/fd'):
    try:
        fds[fd] = os.readlink('/proc/self/fd/' + fd)
    except OSError:
        pass
rec = {'argv': sys.argv, 'cwd': os.getcwd(),
       'env': {k: v for k, v in os.environ.items()
               if k.startswith('FACTEUR_') or k in ('ORDER', 'GREETING',
               'BOT_IMAP_PASSWORD', 'PROBE_INHERITED')},
       'stdin': base64.b64encode(sys.stdin.buffer.read()).decode(),
       'fds': fds}
with open(os.path.join(out, rule + '.json'), 'w') as f:
    json.dump(rec, f)
'''

RULES = r'''rules:
  - name: argv
    if: {subject: '^\[argv\] (?<arg>.*)$'}
    then:
      - run:
          argv: [bin/probe.py, "{{arg}}", "fixed", "x{{arg}}y"]
          env: {PROBE_DIR: "%(probe)s", FACTEUR_RULE: spoofed,
                ORDER: "{{arg}}", GREETING: "hello {{from.name}}"}
  - name: in-message
    if: {subject: '^\[modes\]'}
    then:
      - run: {argv: [bin/probe.py], stdin: message, env: {PROBE_DIR: "%(probe)s"}}
  - name: in-body
    if: {subject: '^\[modes\]'}
    then:
      - run: {argv: [bin/probe.py], stdin: body, env: {PROBE_DIR: "%(probe)s"}}
  - name: in-json
    if: {subject: '^\[modes\]'}
    then:
      - run: {argv: [bin/probe.py], stdin: json, env: {PROBE_DIR: "%(probe)s"}}
  - name: in-none
    if: {subject: '^\[modes\]'}
    then:
      - run: {argv: [bin/probe.py], env: {PROBE_DIR: "%(probe)s"}}
  - name: timeout
    if: {subject: '^\[timeout\]'}
    then:
      - run: {argv: [bin/probe.py], timeout: 1s, env: {PROBE_DIR: "%(probe)s"}}
  - name: daemon
    if: {subject: '^\[daemon\]'}
    then:
      - run: {argv: [bin/probe.py], timeout: 20s, env: {PROBE_DIR: "%(probe)s"}}
  - name: tempfail
    if: {subject: '^\[tempfail\]'}
    then:
      - run: {argv: [bin/probe.py], env: {PROBE_DIR: "%(probe)s"}}
  - name: fail
    if: {subject: '^\[fail\]'}
    then:
      - run: {argv: [bin/probe.py], env: {PROBE_DIR: "%(probe)s"}}
  - name: noisy
    if: {subject: '^\[noisy\]'}
    then:
      - run: {argv: [bin/probe.py], stdin: message, env: {PROBE_DIR: "%(probe)s"}}
  - name: missing
    if: {subject: '^\[missing\]'}
    then:
      - run: {argv: [bin/no-such-program]}
'''

# Run by a shell in the config's directory, any part would make shell-ran.
HOSTILE = ('''a b "c" 'd'; touch shell-ran; $(touch shell-ran) '''
           '''`touch shell-ran` | cat > shell-ran & \\ *''')

MODES = '''From: Alice Martin <alice@example.test>
To: bot@example.test
Subject: [modes] =?utf-8?q?caf=C3=A9?= order
Date: Sun, 22 Nov 2026 09:12:00 +0100
Message-ID: <modes-1@example.test>
MIME-Version: 1.0
Content-Type: text/plain; charset=iso-8859-1
Content-Transfer-Encoding: quoted-printable

Un caf=E9 et deux croissants.
Merci.
'''


def simple(subject, msgid, body='hello\n'):
    return ('From: Bob <bob@example.test>\nTo: bot@example.test\n'
            'Subject: %s\nMessage-ID: <%s>\n\n%s' % (subject, msgid, body)
            ).replace('\n', '\r\n').encode()



def gone(pid):
    """The process no longer runs (absent, or a zombie awaiting init)."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0] in ('Z', 'X')
    except OSError:
        return True



def load(probe, rule):
    with open(os.path.join(probe, rule + '.json')) as f:
        return json.load(f)


PENDING, DONE, FAILED = 0, 1, 2


def main():
    t = Tap()
    with Harness() as h:
        t.harness = h
        fdir = os.path.join(h.tmp, 'facteur')
        probe = os.path.join(fdir, 'probe')
        os.makedirs(probe)
        os.makedirs(os.path.join(fdir, 'rules', 'bin'))
        prog = os.path.join(fdir, 'rules', 'bin', 'probe.py')
        with open(prog, 'w') as f:
            f.write(PROBE)
        os.chmod(prog, stat.S_IRWXU)
        rules = os.path.join(fdir, 'rules', 'run.yaml')
        with open(rules, 'w') as f:
            f.write(RULES % dict(probe=probe))
        state = os.path.join(fdir, 'state.db')
        cfg = h.write_config('''state: %(state)s
accounts:
  - name: ops
    url: imap://127.0.0.1:%(imap)d/INBOX
    user: bot
    password: {env: BOT_IMAP_PASSWORD}
    ca_file: %(ca)s
    after: keep
    rules: [%(rules)s]
''' % dict(state=state, imap=h.ports['imap'], ca=h.ca_file, rules=rules))
        # h.facteur() passes this process's environment on.
        os.environ['BOT_IMAP_PASSWORD'] = 'secret'
        os.environ['PROBE_INHERITED'] = 'yes'
        cp = h.facteur('check', '-c', cfg)
        t.eq(cp.returncode, 0, 'facteur check accepts the run rules')
        if cp.returncode != 0:
            t.diag(cp.stderr)

        @t.test('argv, env, working directory, descriptors')
        def _():
            uid = h.deliver('bot', simple('[argv] ' + HOSTILE, 'argv-1@x'))
            cp = h.facteur('run', '--once', '-c', cfg, valgrind=True)
            t.eq(cp.returncode, 0, 'run exits 0 (no leak or error under '
                 'valgrind)')
            if cp.returncode != 0:
                t.diag(cp.stderr[-2000:])
                t.diag(getattr(cp, 'valgrind', '') or '')
            r = load(probe, 'argv')
            t.eq(r['argv'], [prog, HOSTILE, 'fixed', 'x' + HOSTILE + 'y'],
                 'each template is one argv element, shell syntax inert')
            t.ok(not os.path.exists(os.path.join(fdir, 'shell-ran')),
                 'nothing ran a shell')
            e = r['env']
            t.eq(e.get('FACTEUR_ACCOUNT'), 'ops', 'FACTEUR_ACCOUNT')
            t.eq(e.get('FACTEUR_MAILBOX'), 'INBOX', 'FACTEUR_MAILBOX')
            t.eq(e.get('FACTEUR_UID'), str(uid), 'FACTEUR_UID')
            t.eq(e.get('FACTEUR_MESSAGE_ID'), 'argv-1@x',
                 'FACTEUR_MESSAGE_ID')
            t.eq(e.get('FACTEUR_FROM'), 'bob@example.test', 'FACTEUR_FROM')
            t.eq(e.get('FACTEUR_SUBJECT'), '[argv] ' + HOSTILE,
                 'FACTEUR_SUBJECT')
            t.eq(e.get('FACTEUR_RULE'), 'argv',
                 'FACTEUR_RULE is facteur\'s, not the rule env\'s')
            t.ok(len(e.get('FACTEUR_ACTION_ID', '')) > 0,
                 'FACTEUR_ACTION_ID set')
            t.eq(e.get('ORDER'), HOSTILE, 'rule env with a capture')
            t.eq(e.get('GREETING'), 'hello Bob', 'rule env with a field')
            t.eq(e.get('PROBE_INHERITED'), 'yes', 'facteur\'s environment '
                 'is inherited')
            t.ok('BOT_IMAP_PASSWORD' not in e, 'but not the variable the '
                 'config reads the password from')
            t.eq(r['cwd'], fdir, 'works in the config file\'s directory')
            t.eq(r['stdin'], '', 'stdin: none reads nothing')
            extra = {fd: p for fd, p in r['fds'].items()
                     if int(fd) > 2 and '/fd' not in p}
            t.eq(extra, {}, 'no descriptor beyond 0-2 leaked into it')
            t.eq(action_row(state, 'argv-1@x')[0], DONE, 'journal: done')

        @t.test('stdin: message, body, json, none')
        def _():
            raw = MODES.replace('\n', '\r\n').encode()
            uid = h.deliver('bot', raw)
            cp = h.facteur('run', '--once', '-c', cfg)
            t.eq(cp.returncode, 0, 'run exits 0')
            stored = [m for u, _, m in h.fetch_all('bot') if u == uid][0]
            got = base64.b64decode(load(probe, 'in-message')['stdin'])
            t.eq(got, stored, 'stdin: message is the raw message as '
                 'fetched')
            got = base64.b64decode(load(probe, 'in-body')['stdin'])
            t.eq(got.decode('utf-8'),
                 'Un caf\u00e9 et deux croissants.\nMerci.',
                 'stdin: body is the decoded text, in UTF-8')
            d = json.loads(base64.b64decode(load(probe, 'in-json')['stdin']))
            t.eq((d['account'], d['mailbox'], d['uid'], d['rule']),
                 ('ops', 'INBOX', uid, 'in-json'), 'json: where and rule')
            t.eq(d['subject'], '[modes] caf\u00e9 order', 'json: subject')
            t.eq(d['from'], {'name': 'Alice Martin',
                             'address': 'alice@example.test'}, 'json: from')
            t.eq(d['message_id'], 'modes-1@example.test', 'json: id')
            t.eq(d['attachments'], [], 'json: no attachments')
            got = base64.b64decode(load(probe, 'in-none')['stdin'])
            t.eq(got, b'', 'stdin: none is empty')

        @t.test('timeout: the group is killed, the action retried')
        def _():
            h.deliver('bot', simple('[timeout] slow', 'to-1@x'))
            t0 = time.monotonic()
            cp = h.facteur('run', '--once', '-c', cfg)
            took = time.monotonic() - t0
            child = int(open(os.path.join(probe, 'child.pid')).read())
            grand = int(open(os.path.join(probe, 'grandchild.pid')).read())
            t.ok(wait_until(lambda: gone(child), step=0.02),
                 'the program is killed')
            t.ok(wait_until(lambda: gone(grand), step=0.02),
                 'its grandchild is killed too')
            t.ok(took < 8, 'facteur did not wait for the sleepers',
                 '%.2f s' % took)
            t.ok(took >= 2.5, 'SIGTERM ignored: SIGKILL after the grace '
                 'period', '%.2f s' % took)
            st, attempts, err = action_row(state, 'to-1@x')
            t.eq((st, attempts), (PENDING, 1), 'journal: pending')
            t.ok('timed out' in (err or ''), 'error says timed out', err)
            retry_now(state, 'to-1@x')
            h.facteur('run', '--once', '-c', cfg)
            t.eq(action_row(state, 'to-1@x')[0], DONE,
                 'the retry runs it again and it succeeds')

        @t.test('a background grandchild holding the output is not awaited')
        def _():
            h.deliver('bot', simple('[daemon] x', 'dm-1@x'))
            t0 = time.monotonic()
            cp = h.facteur('run', '--once', '-c', cfg)
            took = time.monotonic() - t0
            pid = int(open(os.path.join(probe, 'daemon.pid')).read())
            t.ok(not gone(pid), 'the grandchild still runs')
            os.kill(pid, signal.SIGKILL)
            t.ok(took < 10, 'facteur did not wait for it (20 s timeout)',
                 '%.2f s' % took)
            t.eq(action_row(state, 'dm-1@x')[0], DONE, 'journal: done')
            t.ok('run ' + prog + ': started' in cp.stderr,
                 'the output written before the exit is logged')

        @t.test('exit 75 is retried, exit 1 fails for good')
        def _():
            h.deliver('bot', simple('[tempfail] x', 'tf-1@x'))
            h.deliver('bot', simple('[fail] x', 'fl-1@x'))
            cp = h.facteur('run', '--once', '-c', cfg)
            st, attempts, err = action_row(state, 'tf-1@x')
            t.eq(st, PENDING, 'exit 75: pending')
            t.ok('75' in (err or '') and 'try again later' in (err or ''),
                 'error gives the status and the last output line', err)
            st, attempts, err = action_row(state, 'fl-1@x')
            t.eq(st, FAILED, 'exit 1: failed')
            t.ok('boom' in (err or ''), 'error quotes stderr', err)
            t.ok('run ' + prog + ': boom' in cp.stderr,
                 'stderr is logged with the program name')
            retry_now(state, 'tf-1@x')
            retry_now(state, 'fl-1@x')
            h.facteur('run', '--once', '-c', cfg)
            t.eq(action_row(state, 'tf-1@x')[0], DONE, 'exit 75 retried')
            t.eq(open(os.path.join(probe, 'tempfail.count')).read(), '2',
                 'it ran twice')
            t.eq(open(os.path.join(probe, 'fail.count')).read(), '1',
                 'exit 1 did not run again')

        @t.test('a flood of output, stdin never read: no block, log capped')
        def _():
            body = ('y' * 76 + '\n') * 30000     # 2.3 MB the probe ignores
            h.deliver('bot', simple('[noisy] x', 'nz-1@x', body))
            cp = h.facteur('run', '--once', '-c', cfg, timeout=60)
            t.eq(action_row(state, 'nz-1@x')[0], DONE, 'done')
            lines = [ln for ln in cp.stderr.splitlines()
                     if ': run ' + prog + ': noise ' in ln]
            logged = sum(len(ln.split(': noise ', 1)[1]) + 7
                         for ln in lines)
            t.ok(0 < logged <= 64 * 1024, 'output logged up to 64 KiB',
                 '%d bytes in %d lines' % (logged, len(lines)))
            t.eq(lines[0].split(': noise ', 1)[1] if lines else None,
                 '000000 ' + 'x' * 40, 'from the first line on')
            t.ok('... (truncated)' in cp.stderr, 'then "... (truncated)"')
            t.ok('LAST-LINE' not in cp.stderr.replace(
                'exit status', ''), 'the rest is not logged')

        @t.test('a program that does not exist fails with a clear error')
        def _():
            h.deliver('bot', simple('[missing] x', 'ms-1@x'))
            h.facteur('run', '--once', '-c', cfg)
            st, attempts, err = action_row(state, 'ms-1@x')
            t.eq(st, FAILED, 'failed for good')
            t.ok('no-such-program' in (err or '') and
                 'No such file' in (err or ''), 'error names the program '
                 'and the reason', err)
    t.done()


if __name__ == '__main__':
    main()
