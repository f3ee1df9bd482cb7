#!/usr/bin/env python3
"""`facteur run` as a daemon: it answers mail as it arrives (IMAP IDLE),
logs one line per message (text and --log json, with rules and action
outcomes), reloads its config and rules on SIGHUP (and keeps the old ones,
saying why with FILE:LINE:COL, when the new ones are bad), warns when an
account has had no successful pass for liveness.warn_after, never logs a
credential, and on SIGTERM finishes and exits 0. The first daemon runs
under valgrind: no leak across a reload."""
import json
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Harness, Tap, free_ports, _valgrind_suppressions  # noqa

SMTP_USER = 'smtpbot'
SMTP_PASSWORD = 'Kx7-smtp-Pw-31'

RULES = r'''rules:
  - name: order-%(v)s
    if: {subject: 'Order #(?<order>[0-9]+)'}
    then:
      - reply:
          body: "Order {{order}} received (%(v)s)."
'''

BAD_RULES = '''rules:
  - name: broken
    if: {subject: '(unclosed'}
    then:
      - reply: {body: "x"}
'''


def order(n):
    return ('From: Alice <alice@example.test>\r\nTo: bot@example.test\r\n'
            'Subject: Order #%d\r\nMessage-ID: <order-%d@example.test>\r\n'
            '\r\nPlease.\r\n' % (n, n)).encode()


class Daemon:
    """facteur run in the background, its stderr in a file."""

    def __init__(self, h, cfg, *args, valgrind=False):
        exe = os.path.abspath(os.environ.get('FACTEUR') or './facteur')
        self.logpath = os.path.join(h.tmp, 'facteur',
                                    'daemon.%d.log' % time.monotonic_ns())
        self.vlog = self.logpath + '.valgrind'
        argv = [exe, 'run', '-c', cfg] + list(args)
        if valgrind:
            argv = ['valgrind', '-q', '--leak-check=full',
                    '--show-leak-kinds=definite',
                    '--errors-for-leak-kinds=definite',
                    '--error-exitcode=99', '--log-file=' + self.vlog] + \
                ['--suppressions=' + s for s in _valgrind_suppressions()] + \
                argv
        self.err = open(self.logpath, 'wb')
        self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=self.err,
                                  cwd=h.tmp, start_new_session=True)
        h._record_pgid(self.p.pid)

    def text(self):
        with open(self.logpath, errors='replace') as f:
            return f.read()

    def wait_log(self, pattern, timeout=15, after=0):
        """The first match of pattern in the log past offset `after`."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            m = re.search(pattern, self.text()[after:], re.M)
            if m:
                return m
            if self.p.poll() is not None:
                break
            time.sleep(0.05)
        return None

    def stop(self, sig=signal.SIGTERM, timeout=60):
        if self.p.poll() is None:
            self.p.send_signal(sig)
        try:
            rc = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.p.pid, signal.SIGKILL)
            rc = self.p.wait()
        self.err.close()
        return rc


def write(path, text):
    with open(path, 'w') as f:
        f.write(text)


def config(h, rules, extra=''):
    return h.write_config('''state: %(tmp)s/facteur/state.db
smtp:
  url: smtp://127.0.0.1:%(smtp)d
  user: %(su)s
  password: {env: SMTP_PW}
  from: "Order Desk <bot@example.test>"
  ca_file: %(ca)s
accounts:
  - name: orders
    url: imap://127.0.0.1:%(imap)d/INBOX
    user: bot
    password: secret
    ca_file: %(ca)s
    addresses: [bot@example.test]
    rules: [%(rules)s]
%(extra)s''' % dict(tmp=h.tmp, smtp=h.ports['smtp'], imap=h.ports['imap'],
                    ca=h.ca_file, rules=rules, su=SMTP_USER, extra=extra))


def replies(h):
    return [raw for _, _, raw in h.fetch_all('alice')]


def json_lines(text):
    out = []
    for line in text.splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


def test_reload(t, h):
    rules = os.path.join(h.tmp, 'facteur', 'rules.yaml')
    write(rules, RULES % {'v': 'v1'})
    cfg = config(h, rules)
    os.environ['SMTP_PW'] = SMTP_PASSWORD
    d = Daemon(h, cfg, '--log', 'json', valgrind=True)
    try:
        h.deliver('bot', order(1))
        h.wait_for_messages('alice', 1, timeout=60)
        t.ok(b'Order 1 received (v1).' in replies(h)[0],
             'a message arriving in IDLE is answered by the v1 rules')
        m = d.wait_log(r'^\{.*"key".*\}$', timeout=20)
        t.ok(m is not None, 'a JSON line for the message', d.text())
        recs = [r for r in json_lines(d.text()) if 'journal' in r]
        rec = recs[0] if recs else {}
        t.eq(rec.get('account'), 'orders', 'json line: account')
        t.eq(rec.get('mailbox'), 'INBOX', 'json line: mailbox')
        t.eq(rec.get('uid'), 1, 'json line: uid')
        t.eq(rec.get('message_id'), 'order-1@example.test',
             'json line: message_id')
        t.eq(rec.get('rules'), ['order-v1'], 'json line: rules matched')
        t.eq(rec.get('actions'),
             [{'type': 'reply', 'status': 'done', 'attempts': 1}],
             'json line: each action with its outcome')
        t.eq(rec.get('status'), 'done', 'json line: final status')
        t.eq(rec.get('level'), 'info', 'json line: level')

        # A bad rule file: every error with FILE:LINE:COL, old rules kept.
        mark = len(d.text())
        write(rules, BAD_RULES)
        d.p.send_signal(signal.SIGHUP)
        m = d.wait_log(r'keeping the running one', after=mark)
        t.ok(m is not None, 'SIGHUP with bad rules: the old config is kept',
             d.text()[mark:])
        t.ok(re.search(re.escape(rules) + r':3:\d+: bad pattern',
                       d.text()[mark:]),
             'the error names FILE:LINE:COL', d.text()[mark:])
        h.deliver('bot', order(2))
        h.wait_for_messages('alice', 2, timeout=60)
        t.ok(any(b'Order 2 received (v1).' in r for r in replies(h)),
             'the next message is still answered by the v1 rules')

        # Good rules: reloaded, used for the next message.
        mark = len(d.text())
        write(rules, RULES % {'v': 'v2'})
        d.p.send_signal(signal.SIGHUP)
        t.ok(d.wait_log(r'configuration reloaded \(1 account\)',
                        after=mark) is not None,
             'SIGHUP with good rules: reloaded', d.text()[mark:])
        h.deliver('bot', order(3))
        h.wait_for_messages('alice', 3, timeout=60)
        t.ok(any(b'Order 3 received (v2).' in r for r in replies(h)),
             'the next message is answered by the v2 rules')
        t.eq(len(replies(h)), 3, 'one reply per message, no more')
    finally:
        rc = d.stop(signal.SIGTERM, timeout=120)
    t.eq(rc, 0, 'SIGTERM: the daemon exits 0 (valgrind: no leak, no error)')
    if rc != 0 and os.path.exists(d.vlog):
        with open(d.vlog) as f:
            t.diag(f.read()[-3000:])
    text = d.text()
    t.ok(re.search(r'"msg":"stopping"', text), 'it says it stops', text[-500:])
    t.ok(not re.search(r'\bsecret\b', text),
         'the IMAP password is not in the log')
    t.ok(SMTP_PASSWORD not in text, 'the SMTP password is not in the log')


def test_text_log_and_liveness(t, h):
    md = os.path.join(h.tmp, 'facteur', 'Local')
    for sub in ('new', 'cur', 'tmp'):
        os.makedirs(os.path.join(md, sub), exist_ok=True)
    rules = os.path.join(h.tmp, 'facteur', 'rules2.yaml')
    write(rules, RULES % {'v': 'md'})
    dead = free_ports(1)[0]
    cfg = h.write_config('''state: %(tmp)s/facteur/state2.db
liveness: {warn_after: 2s}
smtp:
  url: smtp://127.0.0.1:%(smtp)d
  user: %(su)s
  password: {env: SMTP_PW}
  from: "Order Desk <bot@example.test>"
  ca_file: %(ca)s
accounts:
  - name: local
    url: maildir:%(md)s
    poll: 1s
    rules: [%(rules)s]
  - name: dead
    url: pop3://127.0.0.1:%(dead)d
    user: bot
    password: secret
    poll: 1s
    rules: [%(rules)s]
''' % dict(tmp=h.tmp, smtp=h.ports['smtp'], ca=h.ca_file, su=SMTP_USER,
           md=md, rules=rules, dead=dead), name='liveness.yaml')
    write(os.path.join(md, 'new', '1700000000.M1P1.host'),
          order(77).decode())
    d = Daemon(h, cfg)
    try:
        m = d.wait_log(r'^facteur: local: Local: 1700000000\.M1P1\.host: '
                       r'<order-77@example\.test>: matched order-md; '
                       r'reply=done; done \(journal #\d+\)$', timeout=30)
        t.ok(m is not None, 'text log: account, maildir name, key, '
             'Message-ID, rules, action outcome, status', d.text())
        m = d.wait_log(r'warn: dead: no successful pass over the account '
                       r'for \d+s \(liveness\.warn_after\), not once since '
                       r'facteur started', timeout=30)
        t.ok(m is not None, 'liveness: the dead account is reported',
             d.text())
        t.ok('warn: local: no successful pass' not in d.text(),
             'liveness: the live account is not reported')
        t.eq(len(re.findall(r'dead: no successful pass', d.text())), 1,
             'liveness: reported once, not at every pass')
        cp = h.facteur('state', '-c', cfg, '--json', 'accounts')
        accts = {a['account']: a for a in
                 json.loads(cp.stdout or '{}').get('accounts', [])}
        t.ok(isinstance(accts.get('local', {}).get('last_success'), int),
             'state accounts: the live account has a last success',
             cp.stdout + cp.stderr)
        t.eq(accts.get('dead', {}).get('last_success', 'missing'), None,
             'state accounts: the dead account has none')
        t.eq([accts.get(n, {}).get('late') for n in ('local', 'dead')],
             [False, True], 'state accounts: which one is late')
        cp = h.facteur('state', '-c', cfg, 'accounts')
        t.ok(re.search(r'^dead\s+-\s+late\s+0\s+0\s+0$', cp.stdout, re.M),
             'state accounts (text): aligned columns', cp.stdout)
        cp = h.facteur('state', '-c', cfg, 'list')
        t.ok(re.search(r'^\d+\s+local\s+Local\s+1700000000\.M1P1\.host\s+'
                       r'done\s+order-md\s', cp.stdout, re.M),
             'state list (text): the Maildir by its name', cp.stdout)
        cp = h.facteur('state', '-c', cfg, '--json', 'list')
        t.eq([m['mailbox'] for m in json.loads(cp.stdout)['messages']],
             [''], 'state list --json: the journal\'s mailbox')
    finally:
        rc = d.stop(signal.SIGINT)
    t.eq(rc, 0, 'SIGINT: the daemon exits 0')
    t.ok(not re.search(r'\bsecret\b', d.text()),
         'the POP3 password is not in the log')


def test_liveness_imap_only(t, h):
    """Accounts in IDLE that never connect: no pass ever happens to trigger
    the check, yet the daemon still warns."""
    rules = os.path.join(h.tmp, 'facteur', 'rules4.yaml')
    write(rules, RULES % {'v': 'v4'})
    dead = free_ports(1)[0]
    cfg = h.write_config('''state: %(tmp)s/facteur/state4.db
liveness: {warn_after: 2s}
smtp:
  url: smtp://127.0.0.1:%(smtp)d
  user: %(su)s
  password: {env: SMTP_PW}
  from: "Order Desk <bot@example.test>"
  ca_file: %(ca)s
accounts:
  - name: gone
    url: imap://127.0.0.1:%(dead)d/INBOX
    user: bot
    password: secret
    watch: idle
    rules: [%(rules)s]
''' % dict(tmp=h.tmp, dead=dead, rules=rules, smtp=h.ports['smtp'],
           ca=h.ca_file, su=SMTP_USER), name='liveness-imap.yaml')
    d = Daemon(h, cfg)
    try:
        m = d.wait_log(r'warn: gone: no successful pass over the account '
                       r'for \d+s \(liveness\.warn_after\), not once since '
                       r'facteur started', timeout=20)
        t.ok(m is not None, 'liveness: an IDLE account that never connects '
             'is reported', d.text())
    finally:
        rc = d.stop(signal.SIGTERM)
    t.eq(rc, 0, 'SIGTERM: the daemon exits 0')


def connected_to(port):
    """Is there an established TCP connection to 127.0.0.1:port?"""
    with open('/proc/net/tcp') as f:
        for line in f.read().splitlines()[1:]:
            cols = line.split()
            if cols[2] == '0100007F:%04X' % port and cols[3] == '01':
                return True
    return False


def test_term_mid_action(t, h):
    """SIGTERM while a reply is on its way: the reply is finished and
    journaled, then the daemon exits 0."""
    rules = os.path.join(h.tmp, 'facteur', 'rules3.yaml')
    write(rules, RULES % {'v': 'v3'})
    cfg = config(h, rules)      # the first test's journal: 1-3 are done
    before = h.count('alice')
    d = Daemon(h, cfg)
    try:
        h.pause('smtp')
        h.deliver('bot', order(4))
        end = time.monotonic() + 30
        while not connected_to(h.ports['smtp']) and time.monotonic() < end:
            time.sleep(0.05)
        t.ok(connected_to(h.ports['smtp']), 'the reply is on its way '
             '(connected to the paused SMTP server)')
        d.p.send_signal(signal.SIGTERM)
        time.sleep(1.5)     # past the loop's one-second look at the flags
        t.eq(d.p.poll(), None, 'SIGTERM: the daemon waits for the action')
    finally:
        h.resume('smtp')
    rc = d.stop(signal.SIGTERM)
    t.eq(rc, 0, 'then exits 0')
    h.wait_for_messages('alice', before + 1)
    t.eq(h.count('alice'), before + 1, 'the reply went out, once')
    t.ok(re.search(r'<order-4@example\.test>: matched order-v3; reply=done; '
                   r'done', d.text()), 'and was journaled as done',
         d.text())
    cp = h.facteur('state', '-c', cfg, 'pending')
    t.eq(len(cp.stdout.splitlines()), 1, 'nothing pending after the stop')


def main():
    t = Tap()
    with Harness() as h:
        t.harness = h
        h.add_user(SMTP_USER, SMTP_PASSWORD)
        t.run('reload, json log, SIGTERM', test_reload, t, h)
        t.run('text log, liveness, SIGINT', test_text_log_and_liveness, t, h)
        t.run('SIGTERM in the middle of a reply', test_term_mid_action, t, h)
        t.run('liveness with IDLE accounts only', test_liveness_imap_only,
              t, h)
    t.done()


if __name__ == '__main__':
    main()
