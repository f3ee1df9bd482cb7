#!/usr/bin/env python3
"""The Maildir source and `facteur deliver`, replies sent through the
harness's Exim and read back over IMAP from the sender's mailbox.

Maildir: files written into a temp Maildir (new/ and cur/) are answered
once; after: seen moves them to cur/ with the S flag (keeping other flags),
delete unlinks them, keep leaves them, and a second pass answers nothing.

deliver: a message piped in is answered and exits 0; the same message again
is not answered twice; with the SMTP server down it exits 75 and the MTA's
retry, once the server is back, sends exactly one reply."""
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
          body: "We received order {{order}}."
    stop: true
'''


def message(sender, subject, mid=None, body='Hello.\r\n'):
    head = ('From: %s <%s@example.test>\r\n'
            'To: desk@example.test\r\n'
            'Subject: %s\r\n'
            'Date: Sun, 22 Nov 2026 09:12:00 +0100\r\n'
            % (sender.capitalize(), sender, subject))
    if mid:
        head += 'Message-ID: <%s@example.test>\r\n' % mid
    return (head + '\r\n' + body).encode()


def config(h, rules, accounts, name='facteur.yaml'):
    text = '''state: %(tmp)s/facteur/state.db
smtp:
  url: smtp://127.0.0.1:%(smtp)d
  user: bot
  password: secret
  from: "Desk <bot@example.test>"
  ca_file: %(ca)s
accounts:
''' % dict(tmp=h.tmp, smtp=h.ports['smtp'], ca=h.ca_file)
    for name, path, after in accounts:
        text += '''  - name: %s
    url: maildir:%s
    after: %s
    addresses: [desk@example.test]
    rules: [%s]
''' % (name, path, after, rules)
    return h.write_config(text, name=name)


def maildir(h, name, files):
    """A Maildir under the temp dir holding files {'new/x': bytes}."""
    root = os.path.join(h.tmp, 'facteur', name)
    for d in ('new', 'cur', 'tmp'):
        os.makedirs(os.path.join(root, d))
    for rel, raw in files.items():
        with open(os.path.join(root, rel), 'wb') as f:
            f.write(raw)
    return root


def listing(root):
    return sorted('%s/%s' % (d, n) for d in ('new', 'cur', 'tmp')
                  for n in os.listdir(os.path.join(root, d)))


def replies(h):
    """Messages Exim accepted whose Message-ID facteur made."""
    return len(re.findall(r'<= .* id=facteur\.', h.log('smtp')))


def subjects(h, user):
    return sorted(str(email.message_from_bytes(
        raw, policy=email.policy.default)['Subject'])
        for _, _, raw in h.fetch_all(user))


def test_maildir(t, h, rules):
    seen = maildir(h, 'md-seen', {
        'new/1700000001.M1P1.host': message('alice', 'Order #300001'),
        'new/1700000002.M2P1.host': message('alice', 'Just a question'),
        'cur/1700000003.M3P1.host:2,F': message('alice', 'Order #300002'),
    })
    gone = maildir(h, 'md-delete', {
        'new/1700000004.M4P1.host': message('bob', 'Order #400001'),
        'cur/1700000005.M5P1.host:2,S': message('bob', 'Hello there'),
    })
    kept = maildir(h, 'md-keep', {
        'new/1700000006.M6P1.host': message('carol', 'Order #500001'),
    })
    moved = maildir(h, 'md-move', {
        'new/1700000007.M7P1.host': message('carol', 'Order #500002'),
    })
    cfg = config(h, rules, [('seen', seen, 'seen'),
                            ('gone', gone, 'delete'),
                            ('kept', kept, 'keep'),
                            ('moved', moved, '{move: Archive}')])
    before = replies(h)
    cp = h.facteur('run', '--once', '-c', cfg)
    t.eq(cp.returncode, 0, 'maildir: first run exits 0')
    if cp.returncode != 0:
        t.diag(cp.stderr[-3000:])
    t.eq(replies(h) - before, 5, 'maildir: one reply per order')
    t.ok(re.search(r'^facteur: seen: md-seen: 1700000001\.M1P1\.host: <>: '
                   r'matched order-received; reply=done; done '
                   r'\(journal #\d+\)$', cp.stderr, re.M),
         'log: the Maildir is named by its directory, the file by its key',
         cp.stderr)
    t.ok(re.search(r'^facteur: seen: md-seen: 1700000002\.M2P1\.host: <>: '
                   r'matched nothing; no action; done \(journal #\d+\)$',
                   cp.stderr, re.M), 'log: a message no rule matched',
         cp.stderr)
    h.wait_for_messages('alice', 2)
    h.wait_for_messages('bob', 1)
    h.wait_for_messages('carol', 2)
    t.eq(subjects(h, 'alice'), ['Re: Order #300001', 'Re: Order #300002'],
         'after: seen account: replies read back over IMAP')
    t.eq(subjects(h, 'bob'), ['Re: Order #400001'],
         'after: delete account: the reply read back over IMAP')
    t.eq(subjects(h, 'carol'), ['Re: Order #500001', 'Re: Order #500002'],
         'keep and move accounts: replies read back over IMAP')
    t.eq(listing(seen), ['cur/1700000001.M1P1.host:2,S',
                         'cur/1700000002.M2P1.host:2,S',
                         'cur/1700000003.M3P1.host:2,FS'],
         'after: seen moves new/ to cur/ with S, keeping other flags')
    t.eq(listing(gone), [], 'after: delete unlinks every finished file')
    t.eq(listing(kept), ['new/1700000006.M6P1.host'],
         'after: keep leaves the file where it was')
    t.eq(listing(moved), ['new/1700000007.M7P1.host'],
         'after: move is treated as keep for a Maildir')
    t.ok(re.search(r'moved: .*move is not supported', cp.stderr),
         'after: move warns', cp.stderr)

    cp = h.facteur('run', '--once', '-c', cfg)
    t.eq(cp.returncode, 0, 'maildir: second run exits 0')
    t.eq(replies(h) - before, 5, 'maildir: second run sends nothing')
    t.ok(' done ' not in cp.stderr, 'second run processes no message',
         cp.stderr)
    t.eq(listing(seen)[2], 'cur/1700000003.M3P1.host:2,FS',
         'a seen file is left alone')

    # A mail client marks one read and flags it: same message, same key.
    os.rename(os.path.join(kept, 'new/1700000006.M6P1.host'),
              os.path.join(kept, 'cur/1700000006.M6P1.host:2,FS'))
    with open(os.path.join(kept, 'new/1700000008.M8P1.host'), 'wb') as f:
        f.write(message('carol', 'Order #500003'))
    cp = h.facteur('run', '--once', '-c', cfg)
    t.eq(cp.returncode, 0, 'maildir: third run exits 0')
    t.eq(replies(h) - before, 6,
         'only the new file is answered; a renamed one is not')


def deliver(h, cfg, raw, account='mta'):
    return h.facteur('deliver', '-c', cfg, '-a', account, input=raw)


def test_deliver(t, h, rules):
    box = maildir(h, 'md-mta', {})
    cfg = config(h, rules, [('mta', box, 'keep')], name='deliver.yaml')
    raw = message('dave', 'Order #600001', 'd1')
    before = replies(h)
    cp = deliver(h, cfg, raw)
    t.eq(cp.returncode, 0, 'deliver exits 0 once the reply is sent')
    if cp.returncode != 0:
        t.diag(cp.stderr[-3000:])
    t.eq(replies(h) - before, 1, 'deliver: one reply sent')
    t.ok(re.search(r'^facteur: mta: stdin: d1@example\.test: '
                   r'<d1@example\.test>: matched order-received; '
                   r'reply=done; done \(journal #\d+\)$', cp.stderr, re.M),
         'log: deliver names the mailbox stdin', cp.stderr)
    h.wait_for_messages('dave', 1)
    t.eq(subjects(h, 'dave'), ['Re: Order #600001'],
         'deliver: the reply read back over IMAP')
    cp = deliver(h, cfg, raw)
    t.eq(cp.returncode, 0, 'the same message again: exit 0')
    t.eq(replies(h) - before, 1, 'the same message again: no second reply')

    # No Message-ID: the bytes' hash is the key.
    anon = message('dave', 'Order #600002')
    t.eq(deliver(h, cfg, anon).returncode, 0, 'no Message-ID: exit 0')
    t.eq(deliver(h, cfg, anon).returncode, 0, 'no Message-ID again: exit 0')
    t.eq(replies(h) - before, 2, 'no Message-ID: answered once')

    # The SMTP server is down: the MTA must keep the message and retry.
    raw = message('dave', 'Order #600003', 'd3')
    h.stop_smtp()
    try:
        cp = deliver(h, cfg, raw)
        t.eq(cp.returncode, 75, 'SMTP down: deliver exits 75 (EX_TEMPFAIL)')
        cp = deliver(h, cfg, raw)
        t.eq(cp.returncode, 75, 'SMTP still down: the retry exits 75 too')
    finally:
        h.start_smtp()
    cp = deliver(h, cfg, raw)
    t.eq(cp.returncode, 0, 'SMTP back: the retry exits 0')
    if cp.returncode != 0:
        t.diag(cp.stderr[-3000:])
    cp = deliver(h, cfg, raw)
    t.eq(cp.returncode, 0, 'and once more: exit 0')
    t.eq(replies(h) - before, 3, 'SMTP back: exactly one reply for it')
    h.wait_for_messages('dave', 3)
    t.eq(subjects(h, 'dave'), ['Re: Order #600001', 'Re: Order #600002',
                               'Re: Order #600003'],
         'dave has one reply per order')

    # An mbox "From " envelope line before the message is not a header.
    env = b'From dave@example.test Sun Nov 22 09:12:00 2026\n' + \
        message('dave', 'Order #600006', 'd6').replace(b'\r\n', b'\n')
    cp = deliver(h, cfg, env)
    t.eq(cp.returncode, 0, 'an envelope From line: exit 0')
    t.eq(replies(h) - before, 4, 'an envelope From line: answered')
    h.wait_for_messages('dave', 4)
    t.ok('Re: Order #600006' in subjects(h, 'dave'),
         'an envelope From line: the headers were read')

    # The journal cannot be opened: the MTA must keep the message.
    with open(cfg) as f:
        text = f.read()
    broken = h.write_config(text.replace(
        'state: %s/facteur/state.db' % h.tmp,
        'state: %s/state.db' % cfg), name='broken-state.yaml')
    cp = deliver(h, broken, message('dave', 'Order #600005', 'd5'))
    t.eq(cp.returncode, 75, 'the state cannot be written: exit 75')
    t.eq(replies(h) - before, 4, 'and nothing is sent without a journal')

    cp = deliver(h, cfg, raw, account='nosuch')
    t.eq(cp.returncode, 78, 'an unknown account: exit 78')
    t.ok("no account named 'nosuch'" in cp.stderr,
         'an unknown account is named', cp.stderr)
    cp = h.facteur('deliver', '-c', cfg, input=raw)
    t.eq(cp.returncode, 64, 'no -a: exit 64 (usage)')
    cp = deliver(h, cfg, b'')
    t.eq(cp.returncode, 65, 'an empty message: exit 65')
    big = message('dave', 'Order #600004', 'big',
                  'x' * 76 + '\r\n') + (b'y' * 998 + b'\r\n') * 67200
    cp = deliver(h, cfg, big)
    t.eq(cp.returncode, 65, 'a message over 64 MiB: exit 65')
    t.ok('over' in cp.stderr, 'the size cap is named', cp.stderr)
    t.eq(replies(h) - before, 4, 'nothing more was sent')


def main():
    t = Tap()
    users = ['bot', 'alice', 'bob', 'carol', 'dave']
    with Harness(users=users) as h:
        t.harness = h
        rules = os.path.join(h.tmp, 'facteur', 'rules.yaml')
        with open(rules, 'w') as f:
            f.write(RULES)
        t.run('maildir source', test_maildir, t, h, rules)
        t.run('deliver', test_deliver, t, h, rules)
    t.done()


if __name__ == '__main__':
    main()
