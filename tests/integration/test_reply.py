#!/usr/bin/env python3
"""The whole path of the foundation: a message arrives over SMTP in the
bot's IMAP inbox, `facteur run --once` answers it through the SMTP server,
and the reply is read back from the sender's mailbox over IMAP. A second run
sends nothing more."""
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
      all:
        - from: '@example\.test$'
        - subject: 'Order #(?<order>[0-9]{6,})'
    then:
      - reply:
          body: |
            Thank you {{from.name}}, we received order {{order}}.
    stop: true
'''

ORDER = b'''From: Alice Martin <alice@example.test>
To: Order Desk <bot@example.test>
Subject: Order #100234 for two books
Date: Sun, 22 Nov 2026 09:12:00 +0100
Message-ID: <order-100234@example.test>
References: <earlier-1@example.test>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

Please send the two books.
'''.replace(b'\n', b'\r\n')

OTHER = b'''From: Bob <bob@example.test>
To: bot@example.test
Subject: Opening hours?
Message-ID: <question-1@example.test>

When are you open?
'''.replace(b'\n', b'\r\n')


def config(h, rules_path):
    pwfile = os.path.join(h.tmp, 'facteur', 'bot.pw')
    with open(pwfile, 'w') as f:
        f.write('secret\n')
    return h.write_config('''state: %(tmp)s/facteur/state.db
smtp:
  url: smtp://127.0.0.1:%(smtp)d
  user: bot
  password: {env: BOT_SMTP_PASSWORD}
  from: "Order Desk <bot@example.test>"
  ca_file: %(ca)s
accounts:
  - name: orders
    url: imap://127.0.0.1:%(imap)d/INBOX
    user: bot
    password: {file: %(pw)s}
    ca_file: %(ca)s
    after: keep
    addresses: [bot@example.test]
    rules: [%(rules)s]
''' % dict(tmp=h.tmp, smtp=h.ports['smtp'], imap=h.ports['imap'],
           ca=h.ca_file, pw=pwfile, rules=rules_path))


def received_from_facteur(h):
    """Messages Exim accepted whose Message-ID facteur made."""
    return len(re.findall(r'<= .* id=facteur\.', h.log('smtp')))


def main():
    t = Tap()
    with Harness() as h:
        t.harness = h
        rules = os.path.join(h.tmp, 'facteur', 'rules.yaml')
        with open(rules, 'w') as f:
            f.write(RULES)
        cfg = config(h, rules)
        env = {'BOT_SMTP_PASSWORD': 'secret'}

        cp = h.facteur('check', '-c', cfg)
        t.eq(cp.returncode, 0, 'facteur check accepts the config')

        h.send_smtp('alice@example.test', ['bot@example.test'], ORDER,
                    user='alice')
        h.send_smtp('bob@example.test', ['bot@example.test'], OTHER,
                    user='bob')
        h.wait_for_messages('bot', 2)

        cp = h.facteur('run', '--once', '-c', cfg, env=env, valgrind=True)
        t.eq(cp.returncode, 0, 'first run exits 0 (no leak, no error '
             'under valgrind)')
        if cp.returncode != 0:
            t.diag(cp.stderr[-3000:])
            t.diag(getattr(cp, 'valgrind', '') or '')
        t.eq(received_from_facteur(h), 1, 'exactly one reply submitted')

        h.wait_for_messages('alice', 1)
        msgs = h.fetch_all('alice')
        t.eq(len(msgs), 1, "alice's mailbox holds one reply")
        m = email.message_from_bytes(msgs[0][2], policy=email.policy.default)
        t.eq(m['Subject'], 'Re: Order #100234 for two books',
             'reply subject is Re: + the original subject')
        t.eq(m['In-Reply-To'], '<order-100234@example.test>',
             'In-Reply-To is the original Message-ID')
        t.eq(m['References'],
             '<earlier-1@example.test> <order-100234@example.test>',
             'References extends the original References')
        t.eq(m['To'].addresses[0].addr_spec, 'alice@example.test',
             'reply goes to the author')
        t.eq(m['From'].addresses[0].addr_spec, 'bot@example.test',
             'reply comes from smtp.from')
        t.eq(m['Auto-Submitted'], 'auto-replied', 'Auto-Submitted is set')
        t.ok(re.match(r'<facteur\.[0-9a-f]{32}@example\.test>',
                      m['Message-ID'] or ''), 'a derived Message-ID',
             m['Message-ID'])
        t.ok(m['Date'] is not None, 'a Date header')
        body = m.get_content()
        t.eq(body.strip(), 'Thank you Alice Martin, we received order '
             '100234.', 'body rendered from the template with the capture')
        t.eq(m.get_content_type(), 'text/plain', 'a text/plain reply')

        bot = h.fetch_all('bot')
        t.ok(all('\\Seen' not in flags for _, flags, _ in bot),
             'after: keep leaves the bot\'s messages unseen',
             repr([f for _, f, _ in bot]))
        t.eq(len(bot), 2, 'both messages are still in the bot\'s inbox')

        cp = h.facteur('run', '--once', '-c', cfg, env=env)
        t.eq(cp.returncode, 0, 'second run exits 0')
        t.eq(received_from_facteur(h), 1,
             'second run submits nothing more')
        t.ok('done' not in cp.stderr, 'second run processes no message',
             cp.stderr)

        # A new order after that is answered, and only it.
        h.send_smtp('alice@example.test', ['bot@example.test'],
                    ORDER.replace(b'100234', b'100999'), user='alice')
        h.wait_for_messages('bot', 3)
        cp = h.facteur('run', '--once', '-c', cfg, env=env)
        t.eq(cp.returncode, 0, 'third run exits 0')
        t.eq(received_from_facteur(h), 2, 'the new order is answered once')
        h.wait_for_messages('alice', 2)
        subjects = sorted(str(email.message_from_bytes(
            raw, policy=email.policy.default)['Subject'])
            for _, _, raw in h.fetch_all('alice'))
        t.eq(subjects, ['Re: Order #100234 for two books',
                        'Re: Order #100999 for two books'],
             'alice has one reply per order')
    t.done()


if __name__ == '__main__':
    main()
