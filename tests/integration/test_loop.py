#!/usr/bin/env python3
"""Two agents, each answering everything in its own mailbox with an
auto-reply, pointed at each other: alice's agent (A) and bob's agent (B).
One message from bob to alice starts it; both agents then run --once in
turns until a whole round sends nothing. A answers bob exactly once; B
receives that answer (MAIL FROM:<>, Auto-Submitted) and sends nothing back.
Then the mirror: one message from alice to bob. In the end each agent has
sent exactly one reply and each mailbox holds one human message and one
auto-reply."""
import email
import email.policy
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Harness, Tap  # noqa: E402

RULES = r'''rules:
  - name: away
    then:
      - autoreply:
          body: "I am away."
'''

MAX_ROUNDS = 6


def agent(h, user):
    rules = os.path.join(h.tmp, 'facteur', user + '.rules.yaml')
    with open(rules, 'w') as f:
        f.write(RULES)
    return h.write_config('''state: %(tmp)s/facteur/%(user)s.db
smtp:
  url: smtp://127.0.0.1:%(smtp)d
  user: %(user)s
  password: secret
  from: "%(user)s <%(user)s@example.test>"
  ca_file: %(ca)s
accounts:
  - name: %(user)s
    url: imap://127.0.0.1:%(imap)d/INBOX
    user: %(user)s
    password: secret
    ca_file: %(ca)s
    addresses: [%(user)s@example.test]
    rules: [%(rules)s]
''' % dict(tmp=h.tmp, user=user, smtp=h.ports['smtp'],
           imap=h.ports['imap'], ca=h.ca_file, rules=rules),
        user + '.yaml')


def first(sender, rcpt, mid):
    return ('From: %s@example.test\r\nTo: %s@example.test\r\n'
            'Subject: lunch?\r\nMessage-ID: <%s@example.test>\r\n\r\n'
            'Lunch on Friday?\r\n' % (sender, rcpt, mid)).encode()


def run_until_quiet(t, h, cfgs, logs):
    """Both agents in turns; returns the number of rounds that sent."""
    busy = 0
    for _ in range(MAX_ROUNDS):
        sent = 0
        for user in ('alice', 'bob'):
            want = {u: h.count(u) for u in ('alice', 'bob')}
            cp = h.facteur('run', '--once', '-c', cfgs[user])
            if cp.returncode != 0:
                t.diag('%s: exit %d: %s' % (user, cp.returncode,
                                           cp.stderr[-1500:]))
            logs[user] += cp.stderr
            for rcpt in re.findall(r'autoreply sent to (\w+)@',
                                   cp.stderr):
                want[rcpt] += 1
                sent += 1
            # What was sent is in the other mailbox before its turn.
            for u, n in want.items():
                h.wait_for_messages(u, n)
        if sent == 0:
            return busy
        busy += 1
    return busy


def main():
    t = Tap()
    with Harness() as h:
        t.harness = h
        cfgs = {u: agent(h, u) for u in ('alice', 'bob')}
        logs = {'alice': '', 'bob': ''}

        h.send_smtp('bob@example.test', ['alice@example.test'],
                    first('bob', 'alice', 'loop-1'), user='bob')
        h.wait_for_messages('alice', 1)
        busy = run_until_quiet(t, h, cfgs, logs)
        t.ok(busy < MAX_ROUNDS, 'the agents fell quiet (%d busy round(s))'
             % busy)
        t.eq(len(re.findall(r'autoreply sent to bob@example\.test',
                            logs['alice'])), 1,
             "alice's agent answered bob exactly once")
        t.eq(len(re.findall(r'autoreply sent', logs['bob'])), 0,
             "bob's agent sent nothing back")
        t.ok(re.search(r'autoreply not sent: automatic message: '
                       r'(Auto-Submitted: auto-replied|null envelope)',
                       logs['bob']),
             "bob's agent logged why it did not answer the auto-reply")
        t.eq(h.count('bob'), 1, "bob's mailbox holds the one auto-reply")
        t.eq(h.count('alice'), 1, "alice's mailbox holds only bob's "
             "message")
        raw = h.fetch_all('bob')[0][2]
        m = email.message_from_bytes(raw, policy=email.policy.default)
        t.eq((m['Return-Path'], m['Auto-Submitted']),
             ('<>', 'auto-replied'),
             'the auto-reply came with MAIL FROM:<> and Auto-Submitted')

        # The mirror: bob's agent answers once, alice's agent stays quiet.
        h.send_smtp('alice@example.test', ['bob@example.test'],
                    first('alice', 'bob', 'loop-2'), user='alice')
        h.wait_for_messages('bob', 2)
        busy = run_until_quiet(t, h, cfgs, logs)
        t.ok(busy < MAX_ROUNDS, 'quiet again after the mirror')
        for user, other in (('alice', 'bob'), ('bob', 'alice')):
            t.eq(len(re.findall(r'autoreply sent', logs[user])), 1,
                 '%s\'s agent sent exactly one reply in all' % user)
            t.eq(len(re.findall(r'autoreply sent to %s@example\.test'
                                % other, logs[user])), 1,
                 '%s\'s one reply went to %s' % (user, other))
            t.eq(h.count(user), 2, '%s holds one message and one '
                 'auto-reply' % user)
        t.eq(len(re.findall(r' <= <> .* id=facteur\.', h.log('smtp'))), 2,
             'Exim took exactly two null-sender messages from facteur')
    t.done()


if __name__ == '__main__':
    main()
