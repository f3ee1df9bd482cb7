"""Self-checks of the integration harness: the servers it starts behave as
the facteur tests assume, and it leaves nothing behind."""

import email
import imaplib
import os
import poplib
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Harness, HarnessError, Tap, to_yaml  # noqa: E402

t = Tap()


def message(frm, to, subject, body):
    if isinstance(body, bytes):
        body = body.decode()
    return ('From: %s\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s@test>\r\n'
            'Date: Sun, 22 Nov 2026 10:00:00 +0000\r\n\r\n%s' % (
                frm, to, subject, '%d.%d' % (os.getpid(), time.monotonic_ns()),
                body)).encode()


def body_of(raw):
    return raw.split(b'\r\n\r\n', 1)[1]


def alive(pids):
    out = []
    for p in pids:
        try:
            with open('/proc/%d/stat' % p) as f:
                if f.read().rsplit(')', 1)[1].split()[0] != 'Z':
                    out.append(p)
        except OSError:
            pass
    return out


def check_smtp_starttls(h):
    body = b'Hello Bob,\r\nline two with trailing space \r\n.leading dot\r\n'
    raw = message('alice@example.test', 'bob@example.test', 'starttls', body)
    refused = h.send_smtp('alice@example.test', ['bob@example.test'], raw)
    t.eq(refused, {}, 'SMTP STARTTLS+AUTH: recipient accepted')
    t.eq(h.wait_for_messages('bob', 1), 1, 'message reached bob INBOX')
    h.send_smtp('alice@example.test', ['bob+orders@example.test'],
                message('alice@example.test', 'bob+orders@example.test',
                        'detail', 'plus address\r\n'))
    t.eq(h.wait_for_messages('bob', 2), 2, 'bob+orders@ reaches bob')
    msgs = [m for m in h.fetch_all('bob') if m[2].endswith(raw)]
    t.eq(body_of(msgs[-1][2]), body, 'body read back over IMAP is exact')
    t.ok(msgs[-1][2].endswith(raw), 'whole message kept, only trace '
         'headers prepended', msgs[-1][2][:400])
    hdr = email.message_from_bytes(msgs[-1][2])
    t.eq(hdr['Return-Path'], '<alice@example.test>',
         'Return-Path added from the envelope sender')
    t.eq(msgs[-1][1], (), 'fetch_all does not mark the message seen')
    t.ok('A=plain:bot' in h.log('smtp'), 'Exim logged the AUTH PLAIN user')


def check_smtps(h):
    raw = message('bob@example.test', 'alice@example.test', 'smtps',
                  'over implicit TLS\r\n')
    c = h.smtp(tls='ssl')
    t.ok(isinstance(c.sock, ssl.SSLSocket), 'SMTPS: TLS from the first byte')
    t.eq(c.sendmail('bob@example.test', ['alice@example.test'], raw), {},
         'SMTPS: message accepted')
    c.quit()
    h.wait_for_messages('alice', 1)
    t.ok(h.fetch_all('alice')[-1][2].endswith(raw), 'SMTPS: delivered')


def check_auth_login_and_plus(h):
    c = h.smtp(user=None)
    c.user, c.password = 'bob@example.test', 'secret'
    code, _ = c.auth('LOGIN', c.auth_login)
    t.eq(code, 235, 'AUTH LOGIN with user@domain accepted')
    c.quit()


def check_auth_needs_tls(h):
    c = h.smtp(user=None, tls=None)
    t.ok(not c.has_extn('auth'), 'AUTH not offered before STARTTLS',
         repr(c.esmtp_features))
    t.ok(c.has_extn('starttls'), 'STARTTLS offered')
    code, _ = c.docmd('AUTH', 'PLAIN AGJvdABzZWNyZXQ=')
    t.ok(code >= 500, 'AUTH before STARTTLS refused (%d)' % code)
    c.quit()
    c = h.smtp(user=None)
    t.ok(c.has_extn('auth') and 'PLAIN' in c.esmtp_features['auth'] and
         'LOGIN' in c.esmtp_features['auth'],
         'AUTH PLAIN LOGIN offered after STARTTLS',
         repr(c.esmtp_features))
    c.quit()


def check_wrong_password(h):
    try:
        h.smtp(user='bot', password='wrong')
        t.ok(False, 'SMTP wrong password refused')
    except smtplib.SMTPAuthenticationError as e:
        t.eq(e.smtp_code, 535, 'SMTP wrong password refused with 535')
    try:
        h.smtp(user='nosuchuser', password='secret')
        t.ok(False, 'SMTP unknown user refused')
    except smtplib.SMTPAuthenticationError:
        t.ok(True, 'SMTP unknown user refused')
    try:
        h.imap('bob', password='wrong')
        t.ok(False, 'IMAP wrong password refused')
    except imaplib.IMAP4.error:
        t.ok(True, 'IMAP wrong password refused')
    try:
        h.pop3('bob', password='wrong')
        t.ok(False, 'POP3 wrong password refused')
    except poplib.error_proto:
        t.ok(True, 'POP3 wrong password refused')


def check_relay_refused(h):
    raw = message('bot@example.test', 'x@example.com', 'relay', 'no\r\n')
    for rcpt, what in (('someone@example.com', 'relaying to example.com'),
                       ('nobody-here@example.test', 'unknown local user')):
        try:
            h.send_smtp('bot@example.test', [rcpt], raw)
            t.ok(False, '%s refused' % what)
        except smtplib.SMTPRecipientsRefused as e:
            code = e.recipients[rcpt][0]
            t.ok(code == 550, '%s refused with 550' % what,
                 repr(e.recipients))
    c = h.smtp(user=None, tls=None)
    code, _ = c.docmd('MAIL', 'FROM:<x@example.org>')
    code, _ = c.docmd('RCPT', 'TO:<someone@example.org>')
    t.eq(code, 550, 'unauthenticated relaying refused')
    code, _ = c.docmd('RCPT', 'TO:<alice@example.test>')
    t.eq(code, 250, 'unauthenticated mail to a local user accepted (MX)')
    c.quit()


def check_pop3(h):
    raw = message('bot@example.test', 'alice@example.test', 'pop',
                  'for POP3\r\n')
    h.deliver('alice', raw)
    n = h.count('alice')
    for tls in ('starttls', 'ssl', None):
        c = h.pop3('alice', tls=tls)
        count, _ = c.stat()
        t.eq(count, n, 'POP3 (%s) lists %d messages' % (tls or 'plain', n))
        lines = c.retr(count)[1]
        t.ok(b'\r\n'.join(lines) + b'\r\n' == raw,
             'POP3 (%s) RETR is exact' % (tls or 'plain'))
        uidl = c.uidl(count).split()
        t.ok(len(uidl) == 3 and uidl[0] == b'+OK', 'POP3 UIDL answers')
        c.quit()


def check_imaps(h):
    c = imaplib.IMAP4_SSL(h.host, h.ports['imaps'],
                          ssl_context=h.ssl_context())
    cert = c.sock.getpeercert()
    t.ok(('IP Address', '127.0.0.1') in cert.get('subjectAltName', ()),
         'IMAPS certificate verified against the CA, SAN 127.0.0.1')
    c.login('bob', 'secret')
    t.eq(c.select('INBOX')[0], 'OK', 'IMAPS login and select')
    c.logout()
    ctx = ssl.create_default_context(cafile=h.ca_file)
    with socket.create_connection((h.host, h.ports['imaps'])) as s:
        with ctx.wrap_socket(s, server_hostname='localhost') as ss:
            t.ok(b'OK' in ss.recv(200), 'IMAPS verifies as "localhost" too')
    try:
        ctx = ssl.create_default_context()      # system CAs only
        imaplib.IMAP4_SSL(h.host, h.ports['imaps'], ssl_context=ctx)
        t.ok(False, 'IMAPS not trusted without the harness CA')
    except ssl.SSLCertVerificationError:
        t.ok(True, 'IMAPS not trusted without the harness CA')
    c = h.imap('alice', tls='starttls')
    t.ok(isinstance(c.sock, ssl.SSLSocket), 'IMAP STARTTLS verified')
    c.logout()
    c = h.imap('alice', tls=None)
    t.ok(not isinstance(c.sock, ssl.SSLSocket), 'plain IMAP login allowed')
    c.logout()


def check_bulk_deliver(h):
    raws = [message('shop@example.test', 'bot@example.test', 'order %d' % i,
                    'order number %d\r\n' % i) for i in range(1000)]
    t0 = time.monotonic()
    uids = h.deliver_many('bot', raws, mailbox='Orders')
    dt = time.monotonic() - t0
    t.ok(dt < 3, 'deliver_many: 1,000 messages in %.2f s' % dt)
    t.eq(uids, list(range(1, 1001)), 'APPENDUIDs are 1..1000')
    t0 = time.monotonic()
    got = h.fetch_all('bot', 'Orders')
    dt = time.monotonic() - t0
    t.ok([m[2] for m in got] == raws,
         'fetch_all: 1,000 messages exact (%.2f s)' % dt)
    uid = h.deliver('bot', raws[0], flags=('\\Seen', '\\Flagged'))
    m = [x for x in h.fetch_all('bot') if x[0] == uid][0]
    t.eq(sorted(m[1]), ['\\Flagged', '\\Seen'], 'deliver with flags')


def check_mailboxes(h):
    h.create_mailbox('alice', 'Commandes/Réglées')
    h.create_mailbox('alice', 'a "quoted" & box')
    boxes = h.mailboxes('alice')
    t.ok('Commandes/Réglées' in boxes and 'Commandes' in boxes and
         'a "quoted" & box' in boxes and 'INBOX' in boxes,
         'create_mailbox / mailboxes (hierarchy /, UTF-7 names)', boxes)
    uid = h.deliver('alice', b'Subject: x\r\n\r\ny\r\n', 'Commandes/Réglées')
    t.eq(h.fetch_all('alice', 'Commandes/Réglées')[0][:2], (uid, ()),
         'deliver into a non-ASCII mailbox')
    h.delete_mailbox('alice', 'a "quoted" & box')
    t.ok('a "quoted" & box' not in h.mailboxes('alice'), 'delete_mailbox')
    c = h.imap('alice', tls=None)
    typ, data = c.list('""', '*')
    t.ok(any(b'\\Trash' in d for d in data),
         'SPECIAL-USE attributes configured', data)
    c.logout()


def check_add_user(h):
    h.add_user('carol', 'pw-carol')
    raw = message('bot@example.test', 'carol@example.test', 'new user',
                  'hi carol\r\n')
    h.send_smtp('bot@example.test', ['carol@example.test'], raw,
                user='carol', password='pw-carol')
    h.wait_for_messages('carol', 1)
    t.ok(h.fetch_all('carol')[0][2].endswith(raw),
         'add_user: new user can AUTH, receive and read')


def check_restart_and_pause(h):
    h.stop_dovecot()
    try:
        h.imap('bob', tls=None)
        t.ok(False, 'stop_dovecot: IMAP refused')
    except OSError:
        t.ok(True, 'stop_dovecot: IMAP refused')
    raw = message('alice@example.test', 'bob@example.test', 'deferred',
                  'while dovecot was down\r\n')
    before = len(h.smtp_failures())
    h.send_smtp('alice@example.test', ['bob@example.test'], raw)
    deadline = time.monotonic() + 5
    while len(h.smtp_failures()) == before and time.monotonic() < deadline:
        time.sleep(0.05)
    t.ok(len(h.smtp_failures()) > before,
         'Exim defers (==) while LMTP is down', h.smtp_failures())
    h.start_dovecot()
    t0 = time.monotonic()
    t.ok(_wait_raw(h, 'bob', raw, 15),
         'deferred message delivered after start_dovecot (%.1f s)'
         % (time.monotonic() - t0))
    h.pause('imap')
    try:
        s = socket.create_connection((h.host, h.ports['imap']), timeout=2)
        s.settimeout(0.5)
        try:
            s.recv(100)
            t.ok(False, 'pause: no greeting while stopped')
        except socket.timeout:
            t.ok(True, 'pause: no greeting while stopped')
        h.resume('imap')
        s.settimeout(5)
        t.ok(s.recv(100).startswith(b'* OK'), 'resume: greeting arrives')
        s.close()
    finally:
        h.resume('imap')
    h.pause('smtp')
    try:
        s = socket.create_connection((h.host, h.ports['smtp']), timeout=2)
        s.settimeout(0.5)
        try:
            s.recv(100)
            t.ok(False, 'pause smtp: no banner while stopped')
        except socket.timeout:
            t.ok(True, 'pause smtp: no banner while stopped')
        h.resume('smtp')
        s.settimeout(5)
        t.ok(s.recv(100).startswith(b'220 '), 'resume smtp: banner arrives')
        s.close()
    finally:
        h.resume('smtp')
    h.stop_smtp()
    try:
        h.smtp()
        t.ok(False, 'stop_smtp: SMTP refused')
    except OSError:
        t.ok(True, 'stop_smtp: SMTP refused')
    h.start_smtp()
    h.smtp().quit()
    t.ok(True, 'start_smtp: SMTP back')


def _wait_raw(h, user, raw, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(m[2].endswith(raw) for m in h.fetch_all(user)):
            return True
        time.sleep(0.1)
    return False


def check_facteur_runner(h):
    yaml = to_yaml({'accounts': [{'name': 'bot', 'url': h.url('imaps'),
                                  'user': 'bot', 'password': 'yes',
                                  'ca': h.ca_file, 'port': 993}],
                    'empty': {}, 'list': [], 'on': True, 'none': None})
    want = ('accounts:\n  - name: "bot"\n    url: "imaps://127.0.0.1:%d"\n'
            '    user: "bot"\n    password: "yes"\n    ca: "%s"\n'
            '    port: 993\nempty: {}\nlist: []\non: true\nnone: null'
            % (h.ports['imaps'], h.ca_file))
    t.eq(yaml, want, 'to_yaml emits block YAML with quoted strings')
    path = h.write_config({'a': 1})
    t.ok(path.startswith(h.tmp) and open(path).read() == 'a: 1\n',
         'write_config writes under h.tmp')
    cp = h.facteur('a b', 'c', binary='/bin/echo')
    t.eq((cp.returncode, cp.stdout), (0, 'a b c\n'),
         'facteur() runs the binary with its arguments')
    cp = h.facteur(binary='/bin/cat', input=b'abc\xc3\xa9')
    t.eq(cp.stdout, 'abcé', 'facteur() passes stdin, returns text')
    try:
        h.facteur('5', binary='/bin/sleep', timeout=0.3)
        t.ok(False, 'facteur() timeout raises')
    except subprocess.TimeoutExpired:
        t.ok(True, 'facteur() timeout raises')
    if os.path.exists('/usr/bin/valgrind'):
        cp = h.facteur(binary='/bin/true', valgrind=True)
        t.eq(cp.returncode, 0, 'facteur(valgrind=True) runs under valgrind')
    else:
        t.skip('facteur(valgrind=True)', 'valgrind not installed')


def check_curl(h):
    """The servers as libcurl (what facteur uses) sees them."""
    def curl(*args, input=None):
        return subprocess.run(['curl', '-sS', '--max-time', '20',
                               '--cacert', h.ca_file] + list(args),
                              input=input, capture_output=True)
    r = curl('-u', 'bob:secret', 'imaps://127.0.0.1:%d/' % h.ports['imaps'])
    t.ok(r.returncode == 0 and b'INBOX' in r.stdout,
         'curl: IMAPS LIST verified with the CA', r.stderr)
    r = curl('--ssl-reqd', '-u', 'bob:secret',
             'imap://localhost:%d/INBOX' % h.ports['imap'], '-X',
             'EXAMINE INBOX')
    t.ok(r.returncode == 0 and b'UIDVALIDITY' in r.stdout,
         'curl: IMAP STARTTLS as "localhost"', r.stderr)
    raw = message('bot@example.test', 'alice@example.test', 'curl',
                  'sent by curl\r\n')
    r = curl('--ssl-reqd', '-u', 'bot:secret', '--login-options',
             'AUTH=PLAIN', '--mail-from', '', '--mail-rcpt',
             'alice@example.test', '-T', '-',
             'smtp://127.0.0.1:%d' % h.ports['smtp'], input=raw)
    t.ok(r.returncode == 0, 'curl: SMTP STARTTLS AUTH=PLAIN, MAIL FROM:<>',
         r.stderr)
    t.ok(_wait_raw(h, 'alice', raw, 10), 'curl: message delivered')
    m = [x for x in h.fetch_all('alice') if x[2].endswith(raw)][0]
    t.ok(m[2].startswith(b'Return-Path: <>\r\n'),
         'null sender kept as Return-Path: <>', m[2][:100])
    r = curl('-u', 'alice:secret', 'pop3s://127.0.0.1:%d/' % h.ports['pop3s'])
    t.ok(r.returncode == 0 and len(r.stdout.splitlines()) >= 1,
         'curl: POP3S LIST', r.stderr)


CHILD = r'''
import sys, time
sys.path.insert(0, %r)
from harness import Harness
h = Harness().start()
h.count('bob')      # warm: login and mail processes exist now
print(h.tmp, *h.pids(), flush=True)
time.sleep(60)
'''


def check_cleanup_on_signal(sig, what):
    here = os.path.dirname(os.path.abspath(__file__))
    # A background job of a shell starts with SIGINT ignored, and the
    # harness leaves an ignored signal alone: give the child the default.
    p = subprocess.Popen([sys.executable, '-c', CHILD % here],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         text=True, preexec_fn=lambda: signal.signal(
                             signal.SIGINT, signal.SIG_DFL))
    line = p.stdout.readline().split()
    tmp, pids = line[0], [int(x) for x in line[1:]]
    t.ok(len(alive(pids)) >= 4 and os.path.isdir(tmp),
         '%s: child harness running (%d processes)' % (what, len(pids)))
    os.kill(p.pid, sig)
    p.wait(10)
    deadline = time.monotonic() + 5
    while (alive(pids) or os.path.exists(tmp)) and \
            time.monotonic() < deadline:
        time.sleep(0.05)
    t.ok(not alive(pids), '%s: every server process gone' % what,
         alive(pids))
    t.ok(not os.path.exists(tmp), '%s: temp dir removed' % what)


def check_reap_stale():
    """Test process and watchdog both SIGKILLed (a runner killing a whole
    tree): the next harness to start removes the leftovers."""
    here = os.path.dirname(os.path.abspath(__file__))
    p = subprocess.Popen([sys.executable, '-c', CHILD % here],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         text=True)
    line = p.stdout.readline().split()
    tmp, pids = line[0], [int(x) for x in line[1:]]
    with open(os.path.join(tmp, '.watchdog')) as f:
        watchdog = int(f.read())
    os.kill(watchdog, signal.SIGKILL)
    os.kill(p.pid, signal.SIGKILL)
    p.wait(10)
    # SIGKILL is delivered asynchronously: on a busy machine the watchdog
    # can look alive for a moment after kill() returned.
    deadline = time.monotonic() + 5
    while alive([watchdog]) and time.monotonic() < deadline:
        time.sleep(0.01)
    # (A harness starting in a parallel test may reap them first.)
    with Harness(smtp=False):
        pass
    def state(pid):
        try:
            with open('/proc/%d/stat' % pid) as f:
                return f.read()[:80]
        except OSError:
            return 'gone'
    t.ok(not alive(pids) and not os.path.exists(tmp),
         'the next harness start reaps them and the dir',
         'alive: %r\nowner: %s\nwatchdog: %s\ntmp: %s' % (
             alive(pids), state(p.pid), state(watchdog),
             os.listdir(tmp) if os.path.exists(tmp) else 'gone'))


def main():
    t0 = time.monotonic()
    h = Harness()
    t.harness = h
    try:
        h.start()
    except HarnessError as e:
        t.ok(False, 'harness starts', str(e))
        t.done()
    dt = time.monotonic() - t0
    t.ok(dt < 2, 'harness started in %.2f s' % dt)
    t.ok(len(set(h.ports.values())) == 6, 'six distinct ports', h.ports)
    t.ok(os.path.exists(h.ca_file), 'CA file exposed')
    for desc, fn in (
            ('SMTP STARTTLS + AUTH delivery', check_smtp_starttls),
            ('SMTPS delivery', check_smtps),
            ('AUTH LOGIN', check_auth_login_and_plus),
            ('AUTH only over TLS', check_auth_needs_tls),
            ('wrong passwords', check_wrong_password),
            ('relaying refused', check_relay_refused),
            ('POP3 / POP3S', check_pop3),
            ('IMAPS verification', check_imaps),
            ('bulk deliver', check_bulk_deliver),
            ('mailboxes', check_mailboxes),
            ('add_user', check_add_user),
            ('stop/start/pause', check_restart_and_pause),
            ('facteur runner', check_facteur_runner),
            ('curl', check_curl)):
        t.run(desc, fn, h)
    t.ok(not h.smtp_failures() or
         all('==' in l for l in h.smtp_failures()),
         'no delivery failed for good', h.smtp_failures())

    # A second harness at the same time: its own ports and dir.
    with Harness(users=['solo']) as h2:
        t.ok(h2.tmp != h.tmp and not set(h2.ports.values()) &
             set(h.ports.values()), 'two harnesses side by side')
        h2.send_smtp('solo@example.test', 'solo@example.test',
                     b'Subject: s\r\n\r\nsolo\r\n', user='solo')
        t.eq(h2.wait_for_messages('solo', 1), 1, 'second harness delivers')
        pids2, tmp2 = h2.pids(), h2.tmp
    t.ok(not alive(pids2) and not os.path.exists(tmp2),
         'with-block exit stops everything and removes the temp dir',
         alive(pids2))

    pids, tmp = h.pids(), h.tmp
    t.ok(len(pids) >= 4, 'pids() finds the servers (%d)' % len(pids))
    h.close()
    t.ok(not alive(pids), 'close(): no dovecot/exim process left',
         alive(pids))
    t.ok(not os.path.exists(tmp), 'close(): temp dir removed')
    t.harness = None

    t.run('cleanup on SIGTERM', check_cleanup_on_signal,
          signal.SIGTERM, 'SIGTERM')
    t.run('cleanup on SIGINT', check_cleanup_on_signal,
          signal.SIGINT, 'SIGINT')
    t.run('cleanup on SIGKILL', check_cleanup_on_signal,
          signal.SIGKILL, 'SIGKILL (watchdog)')
    t.run('stale dir reaped', check_reap_stale)
    t.done()


if __name__ == '__main__':
    main()
