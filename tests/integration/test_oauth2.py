#!/usr/bin/env python3
"""OAuth2 logins: `oauth2: {command: [...]}` with XOAUTH2 and OAUTHBEARER
against Dovecot, whose oauth2 passdb checks every token at a local
introspection endpoint (a small HTTP server here that knows one good token).
The token command runs before each login; a wrong token is refused by the
server and facteur says so."""
import http.server
import json
import os
import re
import sqlite3
import sys
import tempfile
import threading
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Harness, Tap  # noqa: E402

GOOD = 'ya29.good-token-for-bot'


class Introspection(http.server.BaseHTTPRequestHandler):
    """RFC 7662-style answers: active only for GOOD, as user bot."""
    seen = []

    def _answer(self, token):
        Introspection.seen.append(token)
        body = json.dumps({'active': token == GOOD, 'username': 'bot'}
                          if token == GOOD else {'active': False}).encode()
        self.send_response(200)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        n = int(self.headers.get('Content-Length') or 0)
        form = urllib.parse.parse_qs(self.rfile.read(n).decode())
        self._answer((form.get('token') or [''])[0])

    def do_GET(self):
        auth = self.headers.get('Authorization') or ''
        self._answer(auth[7:] if auth.startswith('Bearer ') else '')

    def log_message(self, *a):
        pass


def dovecot_oauth2(port, d):
    """dovecot.conf lines: XOAUTH2 and OAUTHBEARER checked by the oauth2
    passdb against the introspection endpoint on port."""
    ext = os.path.join(d, 'dovecot-oauth2.conf.ext')
    with open(ext, 'w') as f:
        f.write('introspection_mode = post\n'
                'introspection_url = http://127.0.0.1:%d/introspect\n'
                'username_attribute = username\n'
                'active_attribute = active\n'
                'active_value = true\n' % port)
    os.chmod(ext, 0o644)
    return ('auth_mechanisms = plain login xoauth2 oauthbearer\n'
            'passdb {\n'
            '  driver = oauth2\n'
            '  mechanisms = xoauth2 oauthbearer\n'
            '  args = %s\n'
            '}\n' % ext)


def config(h, name, mech, count, tokfile):
    rules = os.path.join(h.tmp, 'facteur', 'rules.yaml')
    with open(rules, 'w') as f:
        f.write('rules:\n  - name: every-message\n    then:\n'
                '      - flag: {add: [processed]}\n')
    return h.write_config('''state: %(tmp)s/facteur/%(name)s.db
accounts:
  - name: %(name)s
    url: imaps://127.0.0.1:%(imaps)d/INBOX
    user: bot
    oauth2: {command: [sh, -c, 'echo login >> %(count)s; cat %(tok)s']}
    auth: %(mech)s
    ca_file: %(ca)s
    after: keep
    rules: [%(rules)s]
''' % dict(tmp=h.tmp, name=name, imaps=h.ports['imaps'], count=count,
           tok=tokfile, mech=mech, ca=h.ca_file, rules=rules),
        name=name + '.yaml')


def lines(path):
    if not os.path.exists(path):
        return 0
    with open(path) as f:
        return len(f.readlines())


def logins(h, method):
    return len(re.findall(r'Login: user=<bot>, method=%s,' % method,
                          h.log('dovecot')))


def message(i):
    return ('From: alice@example.test\r\nTo: bot@example.test\r\n'
            'Subject: oauth %d\r\nMessage-ID: <oauth-%d@example.test>\r\n'
            '\r\nHello.\r\n' % (i, i)).encode()


def good_token(t, h, mech):
    d = os.path.join(h.tmp, 'facteur')
    count = os.path.join(d, mech + '.count')
    tok = os.path.join(d, mech + '.token')
    with open(tok, 'w') as f:
        f.write(GOOD + '\n')
    cfg = config(h, mech.lower(), mech, count, tok)
    before = len(Introspection.seen)
    h.deliver('bot', message(1 if mech == 'XOAUTH2' else 2))
    cp = h.facteur('run', '--once', '-c', cfg,
                   valgrind=(mech == 'XOAUTH2'))
    t.eq(cp.returncode, 0, '%s: first run exits 0' % mech)
    if cp.returncode != 0:
        t.diag(cp.stderr[-3000:])
        t.diag(getattr(cp, 'valgrind', '') or '')
    t.eq(logins(h, mech), 1, '%s: Dovecot logged one %s login' % (mech,
         mech))
    t.eq(Introspection.seen[before:], [GOOD],
         '%s: Dovecot checked the token at the endpoint' % mech)
    t.eq(lines(count), 1, '%s: the token command ran once' % mech)
    db = sqlite3.connect(os.path.join(d, mech.lower() + '.db'))
    n = db.execute('SELECT count(*) FROM message').fetchone()[0]
    db.close()
    t.eq(n, 1 if mech == 'XOAUTH2' else 2,
         '%s: the run processed the mail in INBOX' % mech)

    cp = h.facteur('run', '--once', '-c', cfg)
    t.eq(cp.returncode, 0, '%s: second run exits 0' % mech)
    t.eq(lines(count), 2, '%s: the token command ran again for the new '
         'login' % mech)
    t.eq(logins(h, mech), 2, '%s: two logins, two token reads' % mech)


def wrong_token(t, h):
    d = os.path.join(h.tmp, 'facteur')
    count = os.path.join(d, 'wrong.count')
    tok = os.path.join(d, 'wrong.token')
    with open(tok, 'w') as f:
        f.write('expired-token\n')
    cfg = config(h, 'wrong', 'XOAUTH2', count, tok)
    before = len(Introspection.seen)
    cp = h.facteur('run', '--once', '-c', cfg)
    t.ok(cp.returncode not in (0, 99) and cp.returncode > 0,
         'a wrong token: facteur fails (exit %d), no crash' % cp.returncode)
    t.ok('expired-token' in Introspection.seen[before:],
         'the server really checked the wrong token')
    t.ok(re.search(r'wrong: .*(denied|[Ll]ogin|[Aa]uthentication)',
                   cp.stderr) is not None,
         'the error names the account and the refused login',
         cp.stderr[-1500:])
    t.ok('expired-token' not in cp.stderr, 'the token is not logged')
    t.diag('error: ' + cp.stderr.strip().splitlines()[-1][:200])
    t.eq(lines(count), 1, 'the token command ran once for the one login')

    # A token command that fails is a clear error too, and no login.
    cfg = h.write_config(open(cfg).read().replace(
        "cat %s" % tok, 'exit 3'), name='broken.yaml')
    n = logins(h, 'XOAUTH2')
    cp = h.facteur('run', '--once', '-c', cfg)
    t.ok(cp.returncode > 0, 'a failing token command: facteur fails '
         '(exit %d)' % cp.returncode)
    t.ok(re.search(r'wrong: .*command.*failed', cp.stderr) is not None,
         "the error names the account and the command's failure",
         cp.stderr[-1500:])
    t.eq(logins(h, 'XOAUTH2'), n, 'no login was attempted')


def main():
    t = Tap()
    httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Introspection)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    d = tempfile.mkdtemp(prefix='facteur-oauth2-')
    os.chmod(d, 0o755)
    try:
        with Harness(smtp=False, dovecot_extra=dovecot_oauth2(
                httpd.server_address[1], d)) as h:
            t.harness = h
            t.run('XOAUTH2 with a good token', good_token, t, h, 'XOAUTH2')
            t.run('OAUTHBEARER with a good token', good_token, t, h,
                  'OAUTHBEARER')
            t.run('a wrong token, a failing token command', wrong_token,
                  t, h)
    finally:
        httpd.shutdown()
        for f in os.listdir(d):
            os.unlink(os.path.join(d, f))
        os.rmdir(d)
    t.done()


if __name__ == '__main__':
    main()
