#!/usr/bin/env python3
"""`facteur state` against a journal written by real runs: list, pending,
failed, show, retry, forget, accounts, in text and --json; temporary
failures (SMTP down) stay pending, permanent ones (550) are final with their
error, retry.max_age turns a temporary failure final; retry makes an IMAP
message below the saved UID be fetched and done again; forget makes mail be
processed again; exit codes follow sysexits."""
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Harness, Tap  # noqa: E402

RULES = r'''rules:
  - name: order
    if: {subject: 'Order #(?<order>[0-9]+)'}
    then:
      - reply:
          body: "Order {{order}} received."
'''

MSG_KEYS = {'id', 'account', 'mailbox', 'key', 'message_id', 'status',
            'matched', 'created', 'updated'}
ACT_KEYS = {'id', 'account', 'mailbox', 'key', 'message_id', 'action',
            'rule', 'type', 'status', 'attempts', 'first_attempt',
            'last_attempt', 'next_attempt', 'done_at', 'last_error'}


def order(sender, n):
    return ('From: %s\r\nTo: bot@example.test\r\nSubject: Order #%d\r\n'
            'Message-ID: <order-%d@example.test>\r\n\r\nPlease.\r\n'
            % (sender, n, n)).encode()


def config(h, name, extra=''):
    rules = os.path.join(h.tmp, 'facteur', 'rules.yaml')
    with open(rules, 'w') as f:
        f.write(RULES)
    md = os.path.join(h.tmp, 'facteur', 'md')
    for sub in ('new', 'cur', 'tmp'):
        os.makedirs(os.path.join(md, sub), exist_ok=True)
    return h.write_config('''state: %(tmp)s/facteur/%(name)s.db
%(extra)s
smtp:
  url: smtp://127.0.0.1:%(smtp)d
  user: bot
  password: secret
  from: "Order Desk <bot@example.test>"
  ca_file: %(ca)s
accounts:
  - name: orders
    url: imap://127.0.0.1:%(imap)d/INBOX
    user: bot
    password: secret
    ca_file: %(ca)s
    rules: [%(rules)s]
  - name: mta
    url: maildir:%(md)s
    rules: [%(rules)s]
''' % dict(tmp=h.tmp, smtp=h.ports['smtp'], imap=h.ports['imap'],
           ca=h.ca_file, rules=rules, md=md, name=name, extra=extra),
        name=name + '.yaml')


def state(h, cfg, *args, valgrind=False):
    return h.facteur('state', '-c', cfg, *args, valgrind=valgrind)


def sj(h, cfg, *args):
    cp = state(h, cfg, '--json', *args)
    try:
        return json.loads(cp.stdout)
    except ValueError:
        raise AssertionError('not JSON: %r %r' % (cp.stdout, cp.stderr))


def by_mid(rows, mid):
    return [r for r in rows if r['message_id'] == mid]


def test_journal(t, h):
    cfg = config(h, 'main')
    h.deliver('bot', order('alice@example.test', 1))
    h.deliver('bot', order('ghost@example.test', 2))
    h.stop_smtp()
    cp = h.facteur('run', '--once', '-c', cfg)
    t.eq(cp.returncode, 0, 'run with SMTP down: the account was reached')
    pend = sj(h, cfg, 'pending')['actions']
    t.eq(len(pend), 2, 'pending: both replies wait')
    t.eq(set(pend[0]) if pend else set(), ACT_KEYS,
         'pending --json: the documented members')
    t.ok(all(a['attempts'] == 1 and a['next_attempt'] > time.time() and
             a['last_error'] for a in pend),
         'pending: one attempt, the next one later, the error kept', pend)
    cp = state(h, cfg, 'pending')
    t.ok(re.search(r'^ID\s+ACCOUNT\s+MAILBOX\s+KEY\s+ACTION\s+TYPE\s+'
                   r'ATTEMPTS\s+NEXT\s+ERROR$', cp.stdout, re.M),
         'pending (text): a header', cp.stdout)
    t.eq(len(cp.stdout.splitlines()), 3, 'pending (text): one line each')
    msgs = sj(h, cfg, 'list')['messages']
    t.eq(set(msgs[0]) if msgs else set(), MSG_KEYS,
         'list --json: the documented members')
    t.eq([(m['status'], m['matched'], m['mailbox']) for m in msgs],
         [('pending', ['order'], 'INBOX')] * 2, 'list: status, rules, '
         'mailbox')
    t.eq([m['message_id'] for m in msgs],
         ['order-2@example.test', 'order-1@example.test'],
         'list: newest first')
    t.eq(len(sj(h, cfg, 'list', '--limit', '1')['messages']), 1,
         'list --limit 1')
    t.eq(len(sj(h, cfg, 'list', '--account', 'mta')['messages']), 0,
         'list --account filters')
    a_id = by_mid(msgs, 'order-1@example.test')[0]['id']
    b_id = by_mid(msgs, 'order-2@example.test')[0]['id']
    cp = state(h, cfg, 'list')
    lines = cp.stdout.splitlines()
    t.ok(len(lines) == 3 and len({l.index('KEY') if 'KEY' in l else
                                  l.index(m['key']) for l, m in
                                  zip(lines, [{'key': 'KEY'}] + msgs)}) == 1,
         'list (text): the KEY column is aligned', cp.stdout)

    h.start_smtp()
    cp = state(h, cfg, 'retry', str(a_id))
    t.eq(cp.returncode, 0, 'retry A exits 0')
    t.ok('1 action due now' in cp.stdout, 'retry says what it did',
         cp.stdout)
    cp = h.facteur('run', '--once', '-c', cfg)
    h.wait_for_messages('alice', 1)
    t.eq(h.count('alice'), 1, 'A is answered once after the retry')
    show = sj(h, cfg, 'show', str(a_id))
    t.eq((show['status'], show['actions'][0]['status'],
          show['actions'][0]['attempts']), ('done', 'done', 2),
         'show A: done after 2 attempts')
    t.eq(by_mid(sj(h, cfg, 'pending')['actions'], 'order-2@example.test')[0]
         ['attempts'], 1, 'B was not due: not attempted again')

    # B's sender does not exist: 550, a permanent failure.
    state(h, cfg, 'retry', str(b_id))
    h.facteur('run', '--once', '-c', cfg)
    failed = sj(h, cfg, 'failed')['actions']
    t.eq([a['message_id'] for a in failed], ['order-2@example.test'],
         'failed: B')
    t.ok(failed and failed[0]['last_error'].startswith('smtp: ') and
         failed[0]['attempts'] == 2 and failed[0]['next_attempt'] is None,
         'failed: final at once, the SMTP error kept', failed)
    cp = state(h, cfg, 'failed')
    t.ok(re.search(r'^%d\s+orders\s+INBOX\s+\d+/2\s+0\s+reply\s+2\s+\S+ '
                   r'\S+\s+smtp: ' % b_id, cp.stdout, re.M),
         'failed (text): one aligned line with the error', cp.stdout)
    cp = state(h, cfg, 'show', str(b_id), valgrind=True)
    t.eq(cp.returncode, 0, 'show B under valgrind: exit 0, no leak')
    t.ok(re.search(r'^  status +failed$', cp.stdout, re.M) and
         re.search(r'^  to +ghost@example\.test$', cp.stdout, re.M) and
         re.search(r'^  subject +Re: Order #2$', cp.stdout, re.M),
         'show B: status and the rendered fields', cp.stdout)
    t.ok('secret' not in cp.stdout, 'show prints no password')
    show = sj(h, cfg, 'show', str(b_id))
    t.eq(show['plan']['actions'][0]['to'], 'ghost@example.test',
         'show --json: the plan')
    t.eq(show['actions'][0]['fields']['body'], 'Order 2 received.',
         'show --json: the rendered fields')

    # Retry a failed IMAP message the source has gone past: fetched again.
    h.add_user('ghost')
    cp = state(h, cfg, '--json', 'retry', str(b_id))
    t.eq(json.loads(cp.stdout), {'id': b_id, 'retried': 1},
         'retry --json')
    t.eq(sj(h, cfg, 'show', str(b_id))['status'], 'pending',
         'retry: failed -> pending')
    h.facteur('run', '--once', '-c', cfg)
    h.wait_for_messages('ghost', 1)
    t.eq(sj(h, cfg, 'show', str(b_id))['status'], 'done',
         'retried B is fetched again and done')
    t.eq(sj(h, cfg, 'failed')['actions'], [], 'nothing failed any more')

    # Forget: processed again.
    cp = state(h, cfg, 'forget', str(a_id))
    t.eq(cp.returncode, 64, 'forget without --yes: 64')
    t.ok('--yes' in cp.stderr, 'forget asks for --yes', cp.stderr)
    cp = state(h, cfg, 'forget', str(a_id), '--yes')
    t.eq((cp.returncode, cp.stdout.strip()), (0, '1 message forgotten'),
         'forget A --yes')
    h.facteur('run', '--once', '-c', cfg)
    h.wait_for_messages('alice', 2)
    t.eq(h.count('alice'), 2, 'a forgotten message is processed again')
    cp = state(h, cfg, '--json', 'forget', '--account', 'orders', '--yes')
    t.eq(json.loads(cp.stdout or '{}'), {'forgotten': 2},
         'forget --account: both messages')
    t.eq(sj(h, cfg, 'list')['messages'], [], 'the journal is empty')
    acc = {a['account']: a for a in sj(h, cfg, 'accounts')['accounts']}
    t.ok(all(isinstance(acc[n]['last_success'], int) and
             acc[n]['last_success'] <= time.time() for n in ('orders', 'mta')),
         'accounts: last success of each configured account', acc)
    t.eq(acc['orders']['messages'], 0, 'accounts: message count')


def test_max_age(t, h):
    cfg = config(h, 'age', 'retry: {max_age: 1s}')
    msg = order('alice@example.test', 9)
    before = h.count('alice')
    h.stop_smtp()
    try:
        cp = h.facteur('deliver', '-c', cfg, '-a', 'mta', input=msg)
        t.eq(cp.returncode, 75, 'deliver with SMTP down: 75')
        pend = sj(h, cfg, 'pending')['actions']
        t.eq([a['attempts'] for a in pend], [1], 'pending after one try')
        # Past max_age (1 s) since the first attempt.
        time.sleep(1.1)
        cp = h.facteur('deliver', '-c', cfg, '-a', 'mta', input=msg)
        t.eq(cp.returncode, 0, 'past retry.max_age: final, the MTA is done')
    finally:
        h.start_smtp()
    failed = sj(h, cfg, 'failed')['actions']
    t.eq(len(failed), 1, 'failed: the reply')
    t.ok(failed and re.match(r'gave up after 2 attempts \(retry\.max_age '
                             r'1s\): smtp: ', failed[0]['last_error']),
         'the last error is kept, with why it is final', failed)
    t.eq(failed[0]['mailbox'] if failed else None, 'stdin',
         'deliver journals under stdin')
    cp = state(h, cfg, '--json', 'retry', '--all')
    t.eq(json.loads(cp.stdout or '{}'), {'messages': 1, 'retried': 1},
         'retry --all: the failed message')
    cp = h.facteur('deliver', '-c', cfg, '-a', 'mta', input=msg)
    t.eq(cp.returncode, 0, 'the MTA delivers it again: done')
    h.wait_for_messages('alice', before + 1)
    t.eq(h.count('alice'), before + 1, 'one reply, after the retry')
    t.eq(sj(h, cfg, 'failed')['actions'], [], 'nothing failed any more')
    cp = state(h, cfg, 'retry', '--all')
    t.eq(cp.stdout.strip(), '0 messages, 0 actions due now',
         'retry --all with nothing to do')


def test_exit_codes(t, h):
    cfg = config(h, 'codes')
    cp = state(h, cfg, 'list')
    t.eq(cp.returncode, 66, 'no journal yet: 66')
    t.ok('no journal at' in cp.stderr, 'says there is no journal', cp.stderr)
    h.facteur('run', '--once', '-c', cfg)
    for args, rc, what in ((('show', '12345'), 66, 'show of an unknown ID'),
                           (('retry', '12345'), 66, 'retry of an unknown ID'),
                           (('forget', '12345', '--yes'), 66,
                            'forget of an unknown ID'),
                           (('show', 'abc'), 64, 'a bad ID'),
                           (('show',), 64, 'show without an ID'),
                           (('list', '--limit', '0'), 64, 'a bad limit'),
                           (('frobnicate',), 64, 'an unknown subcommand'),
                           ((), 64, 'no subcommand'),
                           (('forget', '--yes'), 64, 'forget of nothing'),
                           (('list',), 0, 'an empty list')):
        cp = state(h, cfg, *args)
        t.eq(cp.returncode, rc, '%s: exit %d' % (what, rc))
    for args in (('list',), ('accounts',), ('retry', '--all'),
                 ('--json', 'pending')):
        cp = state(h, cfg, *args, valgrind=True)
        t.eq(cp.returncode, 0, 'state %s under valgrind: no leak, no error'
             % ' '.join(args))
    bad = h.write_config('retry: {max_age: never}\naccounts: []\n',
                         name='bad.yaml')
    cp = state(h, bad, 'list')
    t.eq(cp.returncode, 78, 'a bad config: 78')
    t.ok(re.search(re.escape(bad) + r':1:18: ', cp.stderr),
         'the config error has FILE:LINE:COL', cp.stderr)


def main():
    t = Tap()
    with Harness() as h:
        t.harness = h
        t.run('the journal through facteur state', test_journal, t, h)
        t.run('retry.max_age', test_max_age, t, h)
        t.run('exit codes', test_exit_codes, t, h)
    t.done()


if __name__ == '__main__':
    main()
