#!/usr/bin/env python3
"""make demo: the order desk of examples/orders against local servers.

A private Dovecot (IMAP) and Exim (SMTP) start under a temp dir, with a
web hook receiver. The example's five sample messages land in the order
desk's inbox; `facteur run --once` runs with the example's own config and
rules. Only what ties them to the outside world is changed: the mail
domains become the local one (example.test), the hook URL the local
receiver's. Then everything is read back: the replies in the customers'
mailboxes, the forward and the notification for the team, the folders of
the order desk, the lines bin/record-order wrote, and the hook's requests.
What must be there is what examples/orders/expect.yaml says.
"""
import email
import email.policy
import glob
import hashlib
import hmac
import os
import re
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
EXAMPLE = os.path.join(ROOT, 'examples', 'orders')
sys.path.insert(0, os.path.join(ROOT, 'tests', 'integration'))
from harness import Harness  # noqa: E402
from httpsink import HttpSink  # noqa: E402

USERS = ['orders', 'jane', 'jose', 'orders-team']
HOOK_SECRET = 'demo-hook-secret'


def localise(text, hook):
    """The example's outside world, made local."""
    text = text.replace('@example.com', '@example.test')
    text = text.replace('@customer.example', '@example.test')
    return text.replace('https://hooks.example', hook)


def setup(h, sink):
    """A copy of the example with its placeholders filled in."""
    d = os.path.join(h.tmp, 'facteur', 'orders')
    shutil.copytree(EXAMPLE, d)
    hook = sink.url('').rstrip('/')
    with open(os.path.join(d, 'rules.yaml')) as f:
        rules = localise(f.read(), hook)
    with open(os.path.join(d, 'rules.yaml'), 'w') as f:
        f.write(rules)
    with open(os.path.join(d, 'facteur.yaml')) as f:
        cfg = localise(f.read(), hook)
    cfg = (cfg.replace('@STATE@', os.path.join(d, 'state.db'))
           .replace('@SMTP_URL@', h.url('smtp'))
           .replace('@IMAP_URL@', h.url('imap'))
           .replace('@CA_FILE@', h.ca_file)
           .replace('../../rules/', os.path.join(ROOT, 'rules') + '/'))
    # The local servers know their users by the local part.
    cfg = re.sub(r'user: orders@example\.test', 'user: orders', cfg)
    with open(os.path.join(d, 'facteur.yaml'), 'w') as f:
        f.write(cfg)
    return d


def show(m, keys=('From', 'To', 'Subject', 'In-Reply-To', 'Auto-Submitted')):
    for k in keys:
        if m[k] is not None:
            print('   %s: %s' % (k, m[k]))


def main():
    problems = []

    def want(cond, what):
        print('   [%s] %s' % ('ok' if cond else 'MISSING', what))
        if not cond:
            problems.append(what)

    with Harness(users=USERS) as h, HttpSink(h) as sink:
        print('== local servers: Dovecot IMAP on 127.0.0.1:%d, Exim SMTP on '
              '127.0.0.1:%d, web hook on 127.0.0.1:%d (under %s)'
              % (h.ports['imap'], h.ports['smtp'], sink.port, h.tmp))
        d = setup(h, sink)
        files = sorted(glob.glob(os.path.join(d, 'messages', '*.eml')))
        for path in files:
            with open(path) as f:
                raw = localise(f.read(), '').encode()
            h.deliver('orders', raw.replace(b'\r\n', b'\n')
                      .replace(b'\n', b'\r\n'))
            print('   delivered %-18s to orders@example.test'
                  % os.path.basename(path))
        cfg = os.path.join(d, 'facteur.yaml')
        print('\n== facteur run --once -c %s' % cfg)
        cp = h.facteur('run', '--once', '-c', cfg,
                       env={'ORDERS_PASSWORD': 'secret',
                            'SMTP_PASSWORD': 'secret',
                            'HOOK_SECRET': HOOK_SECRET},
                       binary=os.path.join(ROOT, 'facteur'))
        sys.stdout.write(cp.stderr)
        if cp.returncode != 0:
            print('facteur exited with status %d' % cp.returncode)
            return 1

        print('\n== what the customers got (read back over IMAP)')
        for user, order in (('jane', '2024001'), ('jose', '2024002')):
            h.wait_for_messages(user, 1, timeout=10)
            got = h.fetch_all(user)
            for _, _, raw in got:
                m = email.message_from_bytes(raw, policy=email.policy.default)
                print('-- %s@example.test' % user)
                show(m)
            subjects = [email.message_from_bytes(
                raw, policy=email.policy.default)['Subject']
                for _, _, raw in got]
            want(subjects == ['Your order %s' % order],
                 '%s got one confirmation of order %s' % (user, order))

        print('\n== what the order team got')
        h.wait_for_messages('orders-team', 2, timeout=10)
        team = [email.message_from_bytes(raw, policy=email.policy.default)
                for _, _, raw in h.fetch_all('orders-team')]
        for m in team:
            print('-- orders-team@example.test')
            show(m)
        subjects = sorted(str(m['Subject']) for m in team)
        want(any(s == 'Order 2024001 was cancelled' for s in subjects),
             'a notification of the cancelled order')
        fwd = [m for m in team if m.get_content_type() == 'multipart/mixed']
        want(len(fwd) == 1 and any(p.get_content_type() == 'message/rfc822'
                                   for p in fwd[0].iter_parts()),
             'the test order forwarded as an attachment')

        print('\n== the order desk\'s folders')
        boxes = {}
        for box in ('INBOX', 'Orders/Confirmed', 'Orders/Cancelled'):
            boxes[box] = h.fetch_all('orders', box) \
                if box in h.mailboxes('orders') else []
            print('   %-17s %d message(s)' % (box, len(boxes[box])))
        want(len(boxes['Orders/Confirmed']) == 2,
             'both orders filed in Orders/Confirmed')
        want(len(boxes['Orders/Cancelled']) == 1 and
             '\\Flagged' in boxes['Orders/Cancelled'][0][1],
             'the cancellation flagged and filed in Orders/Cancelled')
        want(len(boxes['INBOX']) == 2 and
             all('\\Seen' in f for _, f, _ in boxes['INBOX']),
             'the other two left in INBOX, marked read (after: seen)')

        print('\n== bin/record-order wrote')
        try:
            with open(os.path.join(d, 'orders.log')) as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            lines = []
        for line in lines:
            print('   ' + line)
        want(sorted(line.split('\t')[1] for line in lines) ==
             ['2024001', '2024002'], 'one line per order')

        print('\n== the web hook received')
        reqs = sink.wait_for(2, timeout=10)
        for r in reqs:
            print('   POST %s %s' % (r.path, r.body.decode()))
        want(sorted(r.path for r in reqs) ==
             ['/orders/2024001', '/orders/2024002'], 'one call per order')
        want(all(r.headers['X-Facteur-Signature'] == 'sha256=' + hmac.new(
            HOOK_SECRET.encode(), r.body, hashlib.sha256).hexdigest()
            for r in reqs), 'each call signed with the hook secret')

        print('\n== %s' % ('everything examples/orders/expect.yaml plans '
                           'happened' if not problems else
                           'missing: ' + '; '.join(problems)))
        return 0 if not problems else 1


if __name__ == '__main__':
    sys.exit(main())
