#!/usr/bin/env python3
"""autoreply against the real Exim and Dovecot: the answer's headers one by
one (as the recipient's mailbox holds it, with the empty envelope sender
Dovecot records as Return-Path: <>), every refusal class of RFC 3834 /
RFC 5230 (no reply, its reason in the log), `every` (one answer per sender
per period), and the limits shared by all sending actions."""
import email
import email.policy
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Harness, Tap  # noqa: E402

RULES = r'''rules:
  - name: away
    then:
      - autoreply:
          subject: "Absent: {{subject}}"
          body: |
            I am away until Monday. Je réponds lundi.
          every: 7d
'''

SHORT_RULES = r'''rules:
  - name: short
    then:
      - autoreply:
          body: "Back soon."
          every: 2s
'''

LIMIT_RULES = r'''rules:
  - name: thanks
    then:
      - reply:
          body: "Thanks."
'''


def msg(headers, body='Hello.\n'):
    """A message from header lines and a body, CRLF line ends."""
    text = '\n'.join(headers) + '\n\n' + body
    return text.replace('\n', '\r\n').encode('utf-8')


def ordinary(sender, subject, mid, extra=()):
    return msg(['Return-Path: <%s>' % sender,
                'From: %s' % sender,
                'To: Bot <bot@example.test>',
                'Subject: %s' % subject,
                'Date: Sun, 22 Nov 2026 09:12:00 +0100',
                'Message-ID: <%s>' % mid] + list(extra))


# One message per refusal class: (what, message, words the log must give).
REFUSALS = [
    ('null Return-Path (a bounce)',
     msg(['Return-Path: <>', 'From: Mail System <postmaster@example.test>',
          'To: bot@example.test', 'Subject: Undelivered Mail',
          'Message-ID: <r1@example.test>']),
     'Return-Path: <>'),
    ('MAILER-DAEMON sender',
     msg(['Return-Path: <MAILER-DAEMON@example.test>',
          'From: MAILER-DAEMON@example.test', 'To: bot@example.test',
          'Subject: failure notice', 'Message-ID: <r2@example.test>']),
     'MAILER-DAEMON@example.test'),
    ('multipart/report delivery status',
     msg(['Return-Path: <carol@example.test>', 'From: carol@example.test',
          'To: bot@example.test', 'Subject: Delivery Status',
          'Message-ID: <r3@example.test>', 'MIME-Version: 1.0',
          'Content-Type: multipart/report; report-type=delivery-status; '
          'boundary="b"'],
         '--b\nContent-Type: text/plain\n\nfailed\n--b\n'
         'Content-Type: message/delivery-status\n\n'
         'Final-Recipient: rfc822; x@example.test\nAction: failed\n'
         'Status: 5.1.1\n--b--\n'),
     'delivery report'),
    ('List-Id',
     msg(['Return-Path: <dave@example.test>', 'From: dave@example.test',
          'To: bot@example.test', 'Subject: [dev] release',
          'List-Id: Developers <dev.example.test>',
          'Message-ID: <r4@example.test>']),
     'dev.example.test'),
    ('List-Unsubscribe only',
     msg(['Return-Path: <erin@example.test>', 'From: erin@example.test',
          'To: bot@example.test', 'Subject: news',
          'List-Unsubscribe: <mailto:leave@example.test>',
          'Message-ID: <r5@example.test>']),
     'mailing-list message'),
    ('Precedence: bulk',
     msg(['Return-Path: <frank@example.test>', 'From: frank@example.test',
          'To: bot@example.test', 'Subject: offer', 'Precedence: bulk',
          'Message-ID: <r6@example.test>']),
     'Precedence: bulk'),
    ('Precedence: junk',
     msg(['Return-Path: <gina@example.test>', 'From: gina@example.test',
          'To: bot@example.test', 'Subject: junk', 'Precedence: junk',
          'Message-ID: <r7@example.test>']),
     'Precedence: junk'),
    ('Auto-Submitted: auto-replied',
     msg(['Return-Path: <hal@example.test>', 'From: hal@example.test',
          'To: bot@example.test', 'Subject: Out of office',
          'Auto-Submitted: auto-replied', 'Message-ID: <r8@example.test>']),
     'Auto-Submitted: auto-replied'),
    ('X-Auto-Response-Suppress: OOF',
     msg(['Return-Path: <ivy@example.test>', 'From: ivy@example.test',
          'To: bot@example.test', 'Subject: meeting',
          'X-Auto-Response-Suppress: DR, OOF',
          'Message-ID: <r9@example.test>']),
     'X-Auto-Response-Suppress'),
    ('owner- list address',
     msg(['Return-Path: <owner-dev@example.test>',
          'From: jack@example.test', 'To: bot@example.test',
          'Subject: moderation', 'Message-ID: <r10@example.test>']),
     'owner-dev@example.test is list software'),
    ('the account\'s own address',
     msg(['Return-Path: <bot@example.test>', 'From: bot@example.test',
          'To: bot@example.test', 'Subject: note to self',
          'Message-ID: <r11@example.test>']),
     "the account's own address"),
    ('not addressed to the account (Bcc copy)',
     msg(['Return-Path: <kim@example.test>', 'From: kim@example.test',
          'To: team@example.test', 'Subject: team news',
          'Message-ID: <r12@example.test>']),
     'not addressed to the account'),
    ('no Return-Path',
     msg(['From: lee@example.test', 'To: bot@example.test',
          'Subject: hello', 'Message-ID: <r13@example.test>']),
     'no Return-Path'),
]


def config(h, name, rules, mailbox='INBOX', limits=None):
    path = os.path.join(h.tmp, 'facteur', name + '.rules.yaml')
    with open(path, 'w') as f:
        f.write(rules)
    text = '''state: %(tmp)s/facteur/%(name)s.db
smtp:
  url: smtp://127.0.0.1:%(smtp)d
  user: bot
  password: secret
  from: "Bot <bot@example.test>"
  ca_file: %(ca)s
accounts:
  - name: %(name)s
    url: imap://127.0.0.1:%(imap)d/%(mailbox)s
    user: bot
    password: secret
    ca_file: %(ca)s
    addresses: [bot@example.test]
    rules: [%(rules)s]
''' % dict(tmp=h.tmp, name=name, smtp=h.ports['smtp'],
           imap=h.ports['imap'], ca=h.ca_file, rules=path, mailbox=mailbox)
    if limits:
        text += 'limits:\n' + ''.join('  %s: %s\n' % kv
                                      for kv in limits.items())
    return h.write_config(text, name + '.yaml')


def submitted(h, null_sender=None):
    """Messages Exim took whose Message-ID facteur derived."""
    lines = re.findall(r'^.* <= .* id=facteur\..*$', h.log('smtp'), re.M)
    if null_sender is not None:
        lines = [ln for ln in lines if (' <= <> ' in ln) == null_sender]
    return len(lines)


def parse(raw):
    return email.message_from_bytes(raw, policy=email.policy.default)


def main():
    t = Tap()
    with Harness() as h:
        t.harness = h
        cfg = config(h, 'away', RULES)
        first = ordinary('alice@example.test', 'Réunion lundi',
                         'a1@example.test',
                         ['References: <a0@example.test>',
                          'MIME-Version: 1.0',
                          'Content-Type: multipart/mixed; boundary="m"'])
        first = first.replace(b'\r\n\r\nHello.\r\n', b'\r\n\r\n--m\r\n'
                              b'Content-Type: text/plain\r\n\r\nSee the '
                              b'file.\r\n--m\r\nContent-Type: '
                              b'application/pdf; name="a.pdf"\r\n'
                              b'Content-Transfer-Encoding: base64\r\n\r\n'
                              b'JVBERi0xLjQK\r\n--m--\r\n')
        h.deliver('bot', first)
        uid_again = h.deliver('bot', ordinary(
            'alice@example.test', 'Still there?', 'a2@example.test'))
        h.deliver('bot', ordinary('bob@example.test', 'Question',
                                  'b1@example.test'))
        uids = {}
        for what, raw, _ in REFUSALS:
            uids[what] = h.deliver('bot', raw)

        cp = h.facteur('run', '--once', '-c', cfg, valgrind=True)
        t.eq(cp.returncode, 0, 'run exits 0 (no leak, no error under '
             'valgrind)')
        if cp.returncode != 0:
            t.diag(cp.stderr[-3000:])
            t.diag(getattr(cp, 'valgrind', '') or '')
        log = cp.stderr
        t.eq(submitted(h), 2, 'exactly two auto-replies submitted '
             '(alice once, bob once)')
        t.eq(submitted(h, null_sender=True), 2,
             'both went with MAIL FROM:<>')

        h.wait_for_messages('alice', 1)
        h.wait_for_messages('bob', 1)
        alice = h.fetch_all('alice')
        t.eq(len(alice), 1, 'alice got one answer for two messages')
        raw = alice[0][2]
        m = parse(raw)
        t.eq(m['Return-Path'], '<>', 'Dovecot recorded the null envelope '
             'sender (Return-Path: <>)')
        t.eq(m['To'].addresses[0].addr_spec, 'alice@example.test',
             'To is the Return-Path address')
        t.eq(len(m['To'].addresses), 1, 'one recipient')
        t.eq(m['From'].addresses[0].addr_spec, 'bot@example.test',
             'From is smtp.from')
        t.eq(m['Auto-Submitted'], 'auto-replied', 'Auto-Submitted: '
             'auto-replied')
        t.eq(m['X-Auto-Response-Suppress'], 'All',
             'X-Auto-Response-Suppress: All (no Exchange OOF back)')
        t.eq(m['In-Reply-To'], '<a1@example.test>',
             'In-Reply-To is the original Message-ID')
        t.eq(m['References'], '<a0@example.test> <a1@example.test>',
             'References extend the original References')
        t.eq(str(m['Subject']), 'Absent: Réunion lundi',
             'Subject is the rule\'s, decoded')
        t.ok(re.search(rb'^Subject: .*=\?utf-8\?[bq]\?', raw, re.M | re.I),
             'non-ASCII Subject is RFC 2047 encoded on the wire',
             re.search(rb'^Subject:.*$', raw, re.M).group(0))
        t.ok(re.fullmatch(r'<facteur\.[0-9a-f]{32}@example\.test>',
                          m['Message-ID'] or ''),
             'a Message-ID derived by facteur', m['Message-ID'])
        t.ok(m['Date'] is not None and m['Date'].datetime is not None,
             'a valid Date')
        t.eq(m.get_content_type(), 'text/plain', 'a single text/plain part '
             '(the original\'s attachment is not sent back)')
        t.eq(m.get_content().replace('\r\n', '\n'), 'I am away until Monday. Je réponds lundi.\n',
             'body is the rule\'s text')
        t.ok(b'JVBERi0xLjQK' not in raw, 'no attachment bytes in the reply')
        bob = h.fetch_all('bob')
        t.eq(len(bob), 1, 'a different sender (bob) gets his own answer')
        t.eq(parse(bob[0][2])['In-Reply-To'], '<b1@example.test>',
             "bob's answer is to bob's message")
        t.ok(re.search(r'uid %d: autoreply not sent: alice@example\.test '
                       r'already answered' % uid_again, log),
             "alice's second message: the period's refusal is logged")

        for what, _, words in REFUSALS:
            line = re.search(r'uid %d: autoreply not sent: (.*)'
                             % uids[what], log)
            t.ok(line is not None and words in line.group(1),
                 'refused: %s (reason logged)' % what,
                 line.group(0) if line else 'no refusal line for uid %d'
                 % uids[what])

        cp = h.facteur('run', '--once', '-c', cfg)
        t.eq(cp.returncode, 0, 'a second run exits 0')
        t.eq(submitted(h), 2, 'a second run sends nothing more')

        # every: a new period, a new answer.
        cfg = config(h, 'short', SHORT_RULES, mailbox='Every')
        h.deliver('bot', ordinary('bob@example.test', 'e1', 'e1@example.test'),
                  mailbox='Every')
        h.deliver('bot', ordinary('bob@example.test', 'e2', 'e2@example.test'),
                  mailbox='Every')
        cp = h.facteur('run', '--once', '-c', cfg)
        t.eq(len(re.findall(r'autoreply sent to bob', cp.stderr)), 1,
             'every: 2s: one answer for two messages at once')
        answered = time.time()
        # The period is the feature under test: wait it out (and the
        # second the sent table's timestamps are rounded to).
        time.sleep(max(0.0, answered + 3.1 - time.time()))
        h.deliver('bot', ordinary('bob@example.test', 'e3', 'e3@example.test'),
                  mailbox='Every')
        cp = h.facteur('run', '--once', '-c', cfg)
        t.eq(len(re.findall(r'autoreply sent to bob', cp.stderr)), 1,
             'every: 2s: answered again once the period is over')
        h.wait_for_messages('bob', 3)
        t.eq(sorted(parse(r)['In-Reply-To'] for _, _, r in h.fetch_all('bob')),
             ['<b1@example.test>', '<e1@example.test>', '<e3@example.test>'],
             'bob holds answers to b1, e1 and e3, not e2')

        # limits: replies_per_sender drops, sends_per_hour postpones.
        cfg = config(h, 'limits', LIMIT_RULES, mailbox='Limits',
                     limits={'replies_per_sender': '1/1d',
                             'sends_per_hour': 2})
        h.deliver('bot', ordinary('alice@example.test', 'one',
                                  'l1@example.test'), mailbox='Limits')
        h.deliver('bot', ordinary('alice@example.test', 'two',
                                  'l2@example.test'), mailbox='Limits')
        h.deliver('bot', ordinary('bob@example.test', 'three',
                                  'l3@example.test'), mailbox='Limits')
        h.deliver('bot', ordinary('carol@example.test', 'four',
                                  'l4@example.test'), mailbox='Limits')
        before = submitted(h)
        cp = h.facteur('run', '--once', '-c', cfg)
        t.eq(cp.returncode, 0, 'limits run exits 0')
        t.eq(submitted(h) - before, 2, 'two replies went out: alice\'s '
             'first and bob\'s')
        t.ok(re.search(r'reply to alice@example\.test not sent: '
                       r'limits\.replies_per_sender', cp.stderr),
             "alice's second reply is dropped by replies_per_sender",
             cp.stderr[-2000:])
        t.ok(re.search(r'Limits: .*reply will retry: reply not sent yet: '
                       r'limits\.sends_per_hour \(2\) reached', cp.stderr),
             "the third reply waits: sends_per_hour reached",
             cp.stderr[-2000:])
        h.wait_for_messages('alice', 2)
        subjects = sorted(str(parse(r)['Subject'])
                          for _, _, r in h.fetch_all('alice'))
        t.eq(subjects, ['Absent: Réunion lundi', 'Re: one'],
             'alice holds the auto-reply and one reply, not two')
    t.done()


if __name__ == '__main__':
    main()
