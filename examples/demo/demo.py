#!/usr/bin/env python3
"""The demo: an order desk bot. Three messages land in bot@example.test;
facteur answers the two order mails and leaves the question alone."""
import email
import email.policy
import glob
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'integration'))
from harness import Harness  # noqa: E402


def main():
    with Harness() as h:
        print('== local servers: Dovecot IMAP on 127.0.0.1:%d, Exim SMTP '
              'on 127.0.0.1:%d (under %s)' % (h.ports['imap'],
                                              h.ports['smtp'], h.tmp))
        files = sorted(glob.glob(os.path.join(HERE, 'messages', '*.eml')))
        for path in files:
            with open(path, 'rb') as f:
                raw = f.read().replace(b'\r\n', b'\n').replace(b'\n', b'\r\n')
            m = email.message_from_bytes(raw, policy=email.policy.default)
            sender = m['From'].addresses[0].addr_spec
            h.send_smtp(sender, ['bot@example.test'], raw,
                        user=sender.split('@')[0])
            print('   sent %-28s from %s' % (os.path.basename(path), sender))
        h.wait_for_messages('bot', len(files))
        cfg = h.write_config('''state: %(tmp)s/facteur/state.db
smtp:
  url: smtp://127.0.0.1:%(smtp)d
  user: bot
  password: {env: DEMO_PASSWORD}
  from: "Order Desk <bot@example.test>"
  ca_file: %(ca)s
accounts:
  - name: orders
    url: imap://127.0.0.1:%(imap)d/INBOX
    user: bot
    password: {env: DEMO_PASSWORD}
    ca_file: %(ca)s
    addresses: [bot@example.test]
    rules: [%(rules)s]
''' % dict(tmp=h.tmp, smtp=h.ports['smtp'], imap=h.ports['imap'],
           ca=h.ca_file, rules=os.path.join(HERE, 'demo-rules.yaml')))
        print('\n== facteur run --once -c %s' % cfg)
        cp = h.facteur('run', '--once', '-c', cfg,
                       env={'DEMO_PASSWORD': 'secret'},
                       binary=os.path.join(ROOT, 'facteur'))
        sys.stdout.write(cp.stderr)
        if cp.returncode != 0:
            print('facteur exited with status %d' % cp.returncode)
            return 1
        want = 2
        print('\n== replies read back over IMAP')
        got = 0
        for user in ('alice', 'bob'):
            try:
                h.wait_for_messages(user, 1, timeout=5)
            except Exception:
                continue
            for uid, flags, raw in h.fetch_all(user):
                m = email.message_from_bytes(raw,
                                             policy=email.policy.default)
                got += 1
                print('\n-- in %s@example.test, uid %d' % (user, uid))
                for k in ('From', 'To', 'Subject', 'In-Reply-To',
                          'Auto-Submitted', 'Message-ID'):
                    print('%s: %s' % (k, m[k]))
                print()
                print(m.get_content().rstrip())
        print('\n== %d replies for %d messages (the question got none)' %
              (got, len(files)))
        return 0 if got == want else 1


if __name__ == '__main__':
    sys.exit(main())
