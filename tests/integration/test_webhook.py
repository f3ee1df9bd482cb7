#!/usr/bin/env python3
"""webhook: messages read over IMAP from the harness's Dovecot are POSTed to
a local HTTP(S) receiver (httpsink.py). Checked: the default JSON document
field by field, the HMAC signature recomputed here, a body template, a 500
retried from the journal and delivered once, a 404 failed at once, a
timeout, HTTPS trusting the harness CA, and an unknown CA refused.

Retries: the journal schedules a temporary failure 30 s or more ahead
(src/run.c). Rather than wait, the test moves the action's next_attempt
into the past in the state file (sqlite3) before the next `run --once`."""
import base64
import hashlib
import hmac
import json
import os
import re
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Harness, Tap, action_row, retry_now  # noqa: E402
from httpsink import HttpSink  # noqa: E402

SECRET = 'k3y with spaces & "quotes"'
PDF = b'%PDF-1.4 fake\n'

RULES = r'''rules:
  - name: doc
    if: {subject: '^\[doc\] Invoice (?<num>[0-9]+)'}
    then:
      - webhook: {url: "%(plain)s/doc", secret: {env: HOOK_SECRET}}
  - name: tmpl
    if: {subject: '^\[tmpl\] (?<what>.*)$'}
    then:
      - webhook:
          url: "%(plain)s/tmpl"
          body: '{"what": "{{what}}", "who": "{{from.address}}", "n": 1}'
  - name: retry
    if: {subject: '^\[retry\]'}
    then:
      - webhook: {url: "%(plain)s/retry"}
  - name: gone
    if: {subject: '^\[gone\]'}
    then:
      - webhook: {url: "%(plain)s/gone"}
  - name: slow
    if: {subject: '^\[slow\]'}
    then:
      - webhook: {url: "%(plain)s/slow", timeout: 1s}
  - name: refused
    if: {subject: '^\[refused\]'}
    then:
      - webhook: {url: "http://127.0.0.1:%(closed)d/nobody"}
  - name: tls
    if: {subject: '^\[tls\]'}
    then:
      - webhook: {url: "%(tls)s/tls", secret: {file: hook.secret}}
'''

DOC = b'''From: Alice Martin <alice@example.test>
To: Billing <bot@example.test>, bob@example.test
Cc: "Carol C." <carol@example.test>
Subject: [doc] Invoice 77
Date: Sun, 22 Nov 2026 09:12:00 +0100
Message-ID: <inv-77@example.test>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b1"

--b1
Content-Type: text/plain; charset=utf-8

Please pay invoice 77.
Thank you.
--b1
Content-Type: application/pdf; name="invoice-77.pdf"
Content-Disposition: attachment; filename="invoice-77.pdf"
Content-Transfer-Encoding: base64

%s
--b1--
''' % base64.b64encode(PDF)


def simple(subject, msgid):
    return ('From: Bob <bob@example.test>\nTo: bot@example.test\n'
            'Subject: %s\nMessage-ID: <%s>\n\nhello\n' % (subject, msgid)
            ).replace('\n', '\r\n').encode()


def crlf(b):
    return b.replace(b'\n', b'\r\n')



def closed_port():
    """A loopback port nothing listens on (bound, then closed)."""
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


PENDING, DONE, FAILED = 0, 1, 2


def main():
    t = Tap()
    with Harness() as h, HttpSink(h) as sink, HttpSink(h, tls=True) as tls:
        t.harness = h
        fdir = os.path.join(h.tmp, 'facteur')
        state = os.path.join(fdir, 'state.db')
        secret_file = os.path.join(fdir, 'hook.secret')
        with open(secret_file, 'w') as f:
            f.write('file-secret\n')
        for sub in ('new', 'cur', 'tmp'):
            os.makedirs(os.path.join(fdir, 'Maildir', sub))
        rules = os.path.join(fdir, 'rules.yaml')
        with open(rules, 'w') as f:
            f.write(RULES % dict(plain=sink.url(''), tls=tls.url(''),
                                 closed=closed_port()))
        cfg = h.write_config('''state: %(state)s
accounts:
  - name: billing
    url: imap://127.0.0.1:%(imap)d/INBOX
    user: bot
    password: secret
    ca_file: %(ca)s
    after: keep
    rules: [%(rules)s]
  - name: local
    url: maildir:%(tmp)s/facteur/Maildir
    rules: [%(rules)s]
''' % dict(state=state, imap=h.ports['imap'], ca=h.ca_file, rules=rules,
           tmp=h.tmp))
        env = {'HOOK_SECRET': SECRET}
        cp = h.facteur('check', '-c', cfg)
        t.eq(cp.returncode, 0, 'facteur check accepts the webhook rules')
        if cp.returncode != 0:
            t.diag(cp.stderr)

        @t.test('default document, signature and delivery id')
        def _():
            uid = h.deliver('bot', crlf(DOC))
            cp = h.facteur('run', '--once', '-c', cfg, env=env,
                           valgrind=True)
            t.eq(cp.returncode, 0, 'run exits 0 (no leak or error under '
                 'valgrind)')
            if cp.returncode != 0:
                t.diag(cp.stderr[-2000:])
                t.diag(getattr(cp, 'valgrind', '') or '')
            reqs = sink.wait_for(1)
            t.eq(len(reqs), 1, 'one POST')
            r = reqs[0]
            t.eq((r.method, r.path), ('POST', '/doc'), 'POST to the url')
            t.eq(r.headers['Content-Type'], 'application/json',
                 'Content-Type is JSON')
            d = json.loads(r.body)
            t.eq(d['account'], 'billing', 'account')
            t.eq(d['mailbox'], 'INBOX', 'mailbox')
            t.eq(d['uid'], uid, 'uid is the IMAP UID')
            t.eq(d['rule'], 'doc', 'rule')
            t.eq(d['message_id'], 'inv-77@example.test', 'message_id')
            t.eq(d['date'], 'Sun, 22 Nov 2026 09:12:00 +0100', 'date')
            t.eq(d['subject'], '[doc] Invoice 77', 'subject')
            t.eq(d['from'], {'name': 'Alice Martin',
                             'address': 'alice@example.test'}, 'from')
            t.eq(d['to'], [{'name': 'Billing',
                            'address': 'bot@example.test'},
                           {'name': '', 'address': 'bob@example.test'}],
                 'to, in order')
            t.eq(d['cc'], [{'name': 'Carol C.',
                            'address': 'carol@example.test'}], 'cc')
            t.eq(d['text'], 'Please pay invoice 77.\nThank you.', 'text')
            t.eq(d['text_truncated'], False, 'text not truncated')
            t.eq(d['attachments'], [{'filename': 'invoice-77.pdf',
                                     'content_type': 'application/pdf',
                                     'size': len(PDF)}], 'attachments')
            t.eq(d['captures'], {'num': '77'}, 'the rule\'s named captures')
            want = 'sha256=' + hmac.new(SECRET.encode(), r.body,
                                        hashlib.sha256).hexdigest()
            t.eq(r.headers['X-Facteur-Signature'], want,
                 'signature is HMAC-SHA256 of the body with the secret')
            t.ok(SECRET not in r.body.decode() and SECRET not in
                 cp.stderr, 'the secret is neither sent nor logged')
            t.ok(re.fullmatch(r'[0-9a-f]{32}',
                              r.headers['X-Facteur-Delivery'] or ''),
                 'a delivery id', r.headers['X-Facteur-Delivery'])
            t.eq(action_row(state, 'inv-77@example.test')[0], DONE,
                 'the journal marks the webhook done')

        @t.test('a body template renders valid JSON from hostile values')
        def _():
            sink.reset()
            h.deliver('bot', simple('[tmpl] say "hi" \\ {x}', 'tm-1@x'))
            cp = h.facteur('run', '--once', '-c', cfg, env=env)
            t.eq(cp.returncode, 0, 'run exits 0')
            r = sink.wait_for(1)[0]
            t.eq(r.path, '/tmpl', 'POST to the template rule\'s url')
            t.eq(json.loads(r.body), {'what': 'say "hi" \\ {x}',
                                      'who': 'bob@example.test', 'n': 1},
                 'the template body, quotes and backslash escaped')
            t.ok('X-Facteur-Signature' not in r.headers,
                 'no signature without a secret')

        @t.test('500 then 200: retried from the journal, delivered once')
        def _():
            sink.reset()
            sink.script(500)
            h.deliver('bot', simple('[retry] please', 'rt-1@x'))
            h.facteur('run', '--once', '-c', cfg, env=env)
            t.eq(len(sink.wait_for(1)), 1, 'first attempt made')
            st, attempts, err = action_row(state, 'rt-1@x')
            t.eq((st, attempts), (PENDING, 1), 'pending after a 500')
            t.ok('500' in (err or ''), 'the error names the status', err)
            h.facteur('run', '--once', '-c', cfg, env=env)
            t.eq(len(sink.requests), 1, 'not retried before it is due')
            retry_now(state, 'rt-1@x')
            h.facteur('run', '--once', '-c', cfg, env=env)
            reqs = sink.wait_for(2)
            t.eq(len(reqs), 2, 'second attempt made')
            t.eq(action_row(state, 'rt-1@x')[0], DONE, 'done after a 200')
            t.eq(reqs[0].headers['X-Facteur-Delivery'],
                 reqs[1].headers['X-Facteur-Delivery'],
                 'the retry carries the same delivery id')
            t.eq(reqs[0].body, reqs[1].body, 'and the same body')
            retry_now(state, 'rt-1@x')
            h.facteur('run', '--once', '-c', cfg, env=env)
            t.eq(len(sink.requests), 2, 'nothing more once delivered')

        @t.test('404 fails at once and is not retried')
        def _():
            sink.reset()
            sink.script(404)
            h.deliver('bot', simple('[gone] where', 'gn-1@x'))
            h.facteur('run', '--once', '-c', cfg, env=env)
            t.eq(len(sink.wait_for(1)), 1, 'one attempt')
            st, attempts, err = action_row(state, 'gn-1@x')
            t.eq(st, FAILED, 'failed for good')
            t.ok('404' in (err or ''), 'the error names the status', err)
            retry_now(state, 'gn-1@x')
            h.facteur('run', '--once', '-c', cfg, env=env)
            t.eq(len(sink.requests), 1, 'no second attempt')

        @t.test('a receiver slower than the timeout: retried later')
        def _():
            sink.reset()
            sink.delay = 4.0
            h.deliver('bot', simple('[slow] wait', 'sl-1@x'))
            t0 = time.monotonic()
            h.facteur('run', '--once', '-c', cfg, env=env)
            took = time.monotonic() - t0
            t.eq(len(sink.wait_for(1)), 1, 'the request was made')
            t.ok(took < 3.5, 'facteur gave up after about 1 s, not 4 s',
                 '%.2f s' % took)
            st, attempts, err = action_row(state, 'sl-1@x')
            t.eq(st, PENDING, 'pending: a timeout is temporary')
            t.ok('timed out' in (err or '').lower() or 'timeout' in
                 (err or '').lower(), 'the error says timeout', err)
            sink.delay = 0.0

        @t.test('a refused connection is retried later')
        def _():
            h.facteur('deliver', '-c', cfg, '-a', 'local',
                      input=simple('[refused] x', 'rf-1@x'), env=env)
            st, attempts, err = action_row(state, 'rf-1@x')
            t.eq((st, attempts), (PENDING, 1), 'pending after one attempt')
            t.ok('connect' in (err or '').lower(), 'the error says the '
                 'connection failed', err)

        @t.test('HTTPS: the harness CA (the account\'s ca_file) trusted')
        def _():
            h.deliver('bot', simple('[tls] secure', 'tl-1@x'))
            cp = h.facteur('run', '--once', '-c', cfg, env=env)
            r = tls.wait_for(1)[0]
            t.eq(r.path, '/tls', 'POST over HTTPS')
            want = 'sha256=' + hmac.new(b'file-secret', r.body,
                                        hashlib.sha256).hexdigest()
            t.eq(r.headers['X-Facteur-Signature'], want,
                 'signed with the secret from the file (relative to the '
                 'config, newline dropped)')
            t.eq(action_row(state, 'tl-1@x')[0], DONE, 'done')

        @t.test('HTTPS: a CA facteur does not trust is refused, retried')
        def _():
            n = len(tls.requests)
            # The maildir account has no ca_file: only the system CAs.
            cp = h.facteur('deliver', '-c', cfg, '-a', 'local',
                           input=simple('[tls] unknown CA', 'tl-2@x'),
                           env=env)
            t.eq(len(tls.requests), n, 'no request got through')
            st, attempts, err = action_row(state, 'tl-2@x')
            t.eq(st, PENDING, 'pending: retried later')
            t.ok('certificate' in (err or '').lower() or 'ssl' in
                 (err or '').lower(), 'the error is about the certificate',
                 err)
    t.done()


if __name__ == '__main__':
    main()
