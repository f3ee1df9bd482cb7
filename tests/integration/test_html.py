#!/usr/bin/env python3
"""HTML-only mail matched on its text, against Dovecot, under valgrind: a
rule whose pattern spans table cells and a tag matches the text HTML becomes
(cells side by side, the tag gone), and does not match the same words found
only in the title and a script, which are not text. Results are read back
over IMAP."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Harness, Tap  # noqa: E402

RULES = r'''rules:
  - name: order
    if: {body: 'Order #123456\s+Total: 42\.50\s*$'}
    then:
      - move: Orders/HTML
'''

# Its text, by the walk's rules: "Order #123456\n\nTotal: 42.50\n\n".
ORDER = ('<html><head><title>Receipt</title><style>p { color: red }'
         '</style></head><body><p>Order <b>#123456</b></p>\r\n'
         '<table><tr><td>Total:</td><td>42.50</td></tr></table>\r\n'
         '<script>var s = "<p>x</p>";</script></body></html>\r\n')

# The same words, but only where they are not text.
DECOY = ('<html><head><title>Order #123456 Total: 42.50</title></head>'
         '<body><p>Nothing to see.</p><script>Order #123456\r\n'
         'Total: 42.50</script></body></html>\r\n')


def message(subject, html):
    return ('From: Shop <shop@example.test>\r\n'
            'To: bot@example.test\r\n'
            'Subject: %s\r\n'
            'Message-ID: <%s@example.test>\r\n'
            'MIME-Version: 1.0\r\n'
            'Content-Type: text/html; charset=utf-8\r\n'
            '\r\n' % (subject, subject) + html).encode()


def subjects(msgs):
    out = []
    for _, _, raw in msgs:
        for line in raw.split(b'\r\n'):
            if line.startswith(b'Subject: '):
                out.append(line[9:].decode())
    return sorted(out)


def html_rules(t, h):
    path = os.path.join(h.tmp, 'facteur', 'html.yaml')
    with open(path, 'w') as f:
        f.write(RULES)
    cfg = h.write_config('''state: %(tmp)s/facteur/html.db
accounts:
  - name: bot
    url: imaps://127.0.0.1:%(imaps)d/INBOX
    user: bot
    password: secret
    ca_file: %(ca)s
    after: keep
    rules: [%(rules)s]
''' % dict(tmp=h.tmp, imaps=h.ports['imaps'], ca=h.ca_file, rules=path),
        name='facteur-html.yaml')
    order = message('order', ORDER)
    h.deliver('bot', order)
    h.deliver('bot', message('decoy', DECOY))
    cp = h.facteur('run', '--once', '-c', cfg, valgrind=True)
    t.eq(cp.returncode, 0, 'run exits 0 (no error, no leak under valgrind)')
    if cp.returncode != 0:
        t.diag(cp.stderr[-3000:])
        t.diag(getattr(cp, 'valgrind', '') or '')
    t.eq(subjects(h.fetch_all('bot')), ['decoy'],
         'the order left INBOX; the words in its title and script alone '
         'did not match')
    moved = h.fetch_all('bot', 'Orders/HTML')
    t.eq([raw for _, _, raw in moved], [order],
         'Orders/HTML holds the order, byte for byte')


def main():
    t = Tap()
    with Harness(smtp=False) as h:
        t.harness = h
        t.run('HTML-only mail matched on its text', html_rules, t, h)
    t.done()


if __name__ == '__main__':
    main()
