#!/usr/bin/env python3
"""Accounts in clear text: `tls: none` on imap:// and pop3:// (a server on
the same host, as the harness's Dovecot). The mail is processed as over
TLS (a reply per order, read back over IMAP), and Dovecot's log says how
each login came: "secured" for a clear connection it trusts (loopback),
"TLS" for one that started TLS. The same account without `tls: none`
still insists on STARTTLS."""
import email
import email.policy
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Harness, Tap  # noqa: E402

RULES = r'''rules:
  - name: order-received
    if:
      subject: 'Order #(?<order>[0-9]{6,})'
    then:
      - reply:
          body: "We received order {{order}}."
'''


def message(n):
    return ('From: Alice <alice@example.test>\r\n'
            'To: desk@example.test\r\n'
            'Subject: Order #%06d\r\n'
            'Message-ID: <plain%d@example.test>\r\n'
            'Date: Sun, 22 Nov 2026 09:12:00 +0100\r\n'
            '\r\nHello.\r\n' % (n, n)).encode()


def config(h, name, url, user, tls):
    return h.write_config('''state: %(tmp)s/facteur/%(user)s.db
smtp:
  url: smtp://127.0.0.1:%(smtp)d
  user: bot
  password: secret
  from: "Desk <bot@example.test>"
  ca_file: %(ca)s
accounts:
  - name: %(user)s
    url: %(url)s
    user: %(user)s
    password: secret
    ca_file: %(ca)s
%(tls)s    rules: [%(tmp)s/facteur/rules.yaml]
''' % dict(tmp=h.tmp, smtp=h.ports['smtp'], ca=h.ca_file, name=name,
           url=url, user=user,
           tls='    tls: %s\n' % tls if tls else ''),
        name=name + '.yaml')


def logins(h, service, user):
    """How each login of user to service came, in order: 'secured' or
    'TLS' (Dovecot's word for it)."""
    return re.findall(r'%s-login: Info: Login: user=<%s>, .*?, '
                      r'(secured|TLS)\b' % (service, user),
                      h.log('dovecot'))


def replies(h):
    return len(re.findall(r'<= .* id=facteur\.', h.log('smtp')))


def check(t, h, proto, user, n, expect):
    service = 'imap' if proto == 'imap' else 'pop3'
    url = h.url(proto, mailbox='INBOX' if proto == 'imap' else None)
    h.deliver(user, message(n))
    before = replies(h)
    seen = len(logins(h, service, user))
    cfg = config(h, user + '-clear', url, user, 'none')
    cp = h.facteur('run', '--once', '-c', cfg)
    t.eq(cp.returncode, 0, '%s:// tls: none: exits 0' % proto)
    if cp.returncode != 0:
        t.diag(cp.stderr[-3000:])
    t.eq(replies(h) - before, 1, '%s:// tls: none: the order is answered'
         % proto)
    t.eq(logins(h, service, user)[seen:], ['secured'],
         '%s:// tls: none: Dovecot saw a login without TLS' % proto)
    # The same account without tls: none: STARTTLS, as always.
    h.deliver(user, message(n + 1))
    seen = len(logins(h, service, user))
    cfg = config(h, user + '-tls', url, user, None)
    cp = h.facteur('run', '--once', '-c', cfg)
    t.eq(cp.returncode, 0, '%s:// by default: exits 0' % proto)
    t.eq(logins(h, service, user)[seen:], ['TLS'],
         '%s:// by default: the login came over TLS' % proto)
    t.eq(replies(h) - before, 2, '%s:// by default: answered too' % proto)
    h.wait_for_messages('alice', expect)
    got = [str(email.message_from_bytes(raw, policy=email.policy.default)
               ['Subject']) for _, _, raw in h.fetch_all('alice')]
    t.ok('Re: Order #%06d' % n in got and 'Re: Order #%06d' % (n + 1) in got,
         '%s:// both replies read back over IMAP' % proto, got)


def main():
    t = Tap()
    with Harness(users=['bot', 'alice', 'carol', 'dave']) as h:
        t.harness = h
        with open(os.path.join(h.tmp, 'facteur', 'rules.yaml'), 'w') as f:
            f.write(RULES)
        t.run('imap:// tls: none', check, t, h, 'imap', 'carol', 100001, 2)
        t.run('pop3:// tls: none', check, t, h, 'pop3', 'dave', 100011, 4)
    t.done()


if __name__ == '__main__':
    main()
