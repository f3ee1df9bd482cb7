#!/usr/bin/env python3
"""Folder names are written with '/' between levels whatever the server's
hierarchy delimiter. Against a Dovecot whose delimiter is '.' (Maildir++
style, as on many servers), an account watching `Lists/Dev` reads the
server's `Lists.Dev`, and `move: Archive/2024` files the message into the
server's `Archive.2024`, created as needed: a child of `Archive`, not a
top-level folder with a slash in its name."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Harness, Tap  # noqa: E402

RULES = '''rules:
  - name: file-it
    if: {subject: '^file me$'}
    then:
      - move: Archive/2024
'''


def message(n):
    return ('From: Alice <alice@example.test>\r\nTo: bot@example.test\r\n'
            'Subject: file me\r\nMessage-ID: <sep-%d@example.test>\r\n\r\n'
            'hello\r\n' % n).encode()


def folders(h, user):
    """The server's folder names, as LIST gives them."""
    c = h.imap(user, tls=None)
    try:
        typ, data = c.list('""', '*')
    finally:
        c.logout()
    out = []
    for line in data:
        line = line.decode() if isinstance(line, bytes) else str(line)
        out.append(line.rsplit(' ', 1)[-1].strip('"'))
    return sorted(out), data


def main():
    t = Tap()
    with Harness(dovecot_extra='namespace inbox {\n  separator = .\n}\n'
                 ) as h:
        t.harness = h
        names, raw = folders(h, 'bot')
        t.ok(any(b'"."' in (x if isinstance(x, bytes) else b'')
                 for x in raw), "this Dovecot's delimiter is '.'", raw)
        h.create_mailbox('bot', 'Lists.Dev')
        h.deliver('bot', message(1), mailbox='Lists.Dev')
        d = os.path.join(h.tmp, 'facteur')
        rules = os.path.join(d, 'rules.yaml')
        with open(rules, 'w') as f:
            f.write(RULES)
        cfg = h.write_config('''state: %(d)s/state.db
accounts:
  - name: lists
    url: imap://127.0.0.1:%(imap)d/Lists/Dev
    user: bot
    password: secret
    ca_file: %(ca)s
    after: keep
    rules: [%(rules)s]
''' % dict(d=d, imap=h.ports['imap'], ca=h.ca_file, rules=rules))
        cp = h.facteur('run', '--once', '-v', '-c', cfg, valgrind=True)
        t.ok(cp.returncode == 0, 'run --once: exit 0', cp.stderr[-2000:])
        t.ok('SELECT "Lists.Dev"' in cp.stderr,
             "Lists/Dev is selected as the server's Lists.Dev",
             cp.stderr[-2000:])
        names, raw = folders(h, 'bot')
        t.ok('Archive.2024' in names and 'Archive' in names,
             'the message went to Archive.2024, under Archive', names)
        t.ok(not any('/' in n for n in names),
             'no folder has a slash in its name', names)
        t.eq(h.count('bot', 'Archive.2024'), 1, 'Archive.2024 holds it')
        t.eq(h.count('bot', 'Lists.Dev'), 0, 'Lists.Dev is empty')
    t.done()


if __name__ == '__main__':
    main()
