#!/usr/bin/env python3
"""forward (as attachment, inline, redirect) and notify against the real
Exim and Dovecot, read back over IMAP: the attached message/rfc822 part is
the original's bytes, a redirect is the original with Resent-* prepended
and a new envelope, and a refused recipient among several is named while
the others still get the mail."""
import email
import email.policy
import os
import re
import socket
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Harness, Tap  # noqa: E402

RULES = r'''rules:
  - name: attach
    if: {subject: '^attach'}
    then:
      - forward: {to: alice@example.test, as: attachment}
    stop: true
  - name: inline
    if: {subject: '^inline'}
    then:
      - forward: {to: "Alice <alice@example.test>", as: inline}
    stop: true
  - name: redirect
    if: {subject: '^redirect'}
    then:
      - forward:
          to: [alice@example.test, bob@example.test]
          as: redirect
    stop: true
  - name: partial
    if: {subject: '^partial'}
    then:
      - forward: {to: [nosuch@example.test, alice@example.test]}
    stop: true
  - name: many
    if: {subject: '^many'}
    then:
      - forward:
          to: [carol+first@example.test, carol+second@example.test,
               carol+third@example.test, carol+fourth@example.test,
               carol+fifth@example.test]
          as: redirect
    stop: true
  - name: nobody
    if: {subject: '^nobody'}
    then:
      - forward: {to: [nosuch@example.test, ghost@elsewhere.test]}
    stop: true
  - name: tell-bob
    if: {subject: '^Order (?<order>[0-9]+)'}
    then:
      - notify:
          to: bob@example.test
          subject: "New order {{order}}"
          body: "Order {{order}} from {{from.address}}.\n"
    stop: true
'''


GREY_RULES = r'''rules:
  - name: one-grey
    if: {subject: '^one grey'}
    then:
      - notify: {to: [ok@example.test, grey1@example.test], body: "x"}
  - name: all-grey
    if: {subject: '^all grey'}
    then:
      - notify: {to: grey2@example.test, body: "y"}
'''


def original(subject, mid, body='Grüße aus Köln.\n', extra=()):
    lines = ['Return-Path: <carol@example.test>',
             'From: Carol Dürr <carol@example.test>',
             'To: Bot <bot@example.test>',
             'Cc: dave@example.test',
             'Subject: %s' % subject,
             'Date: Sun, 22 Nov 2026 10:00:00 +0100',
             'Message-ID: <%s>' % mid,
             'MIME-Version: 1.0'] + list(extra)
    if not extra:
        lines.append('Content-Type: text/plain; charset=utf-8')
        lines.append('Content-Transfer-Encoding: 8bit')
    text = '\n'.join(lines) + '\n\n' + body
    return text.replace('\n', '\r\n').encode('utf-8')


ATTACHED = ('--zz\nContent-Type: text/plain; charset=utf-8\n'
            'Content-Transfer-Encoding: 8bit\n\nSee the file, Grüße.\n'
            '--zz\nContent-Type: application/octet-stream; name="x.bin"\n'
            'Content-Transfer-Encoding: base64\n\nAAECAwQFBgc=\n--zz--\n')


def config(h, rules):
    path = os.path.join(h.tmp, 'facteur', 'rules.yaml')
    with open(path, 'w') as f:
        f.write(rules)
    return h.write_config('''state: %(tmp)s/facteur/state.db
smtp:
  url: smtps://127.0.0.1:%(smtps)d
  user: bot
  password: secret
  from: "Bot <bot@example.test>"
  ca_file: %(ca)s
accounts:
  - name: fwd
    url: imaps://127.0.0.1:%(imaps)d/INBOX
    user: bot
    password: secret
    ca_file: %(ca)s
    addresses: [bot@example.test]
    rules: [%(rules)s]
''' % dict(tmp=h.tmp, smtps=h.ports['smtps'], imaps=h.ports['imaps'],
           ca=h.ca_file, rules=path))


class FakeSmtp:
    """A scripted SMTP server without STARTTLS, for what the harness's
    Exim will not do: offer AUTH with no TLS at all, and refuse one
    recipient with a temporary 451 (greylisting). Records every command;
    RCPT for an address containing "grey" gets 451, the rest 250."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(5)
        self.port = self.sock.getsockname()[1]
        self.commands = []
        self.messages = []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def reply(self, conn, f, cmd):
        verb = cmd.split(' ')[0].upper()
        if verb in ('EHLO', 'HELO'):
            return b'250-fake\r\n250 AUTH PLAIN\r\n'
        if verb == 'QUIT':
            return b'221 bye\r\n'
        if verb == 'MAIL':
            return b'250 ok\r\n'
        if verb == 'RCPT':
            return (b'451 4.7.1 greylisted, try later\r\n' if 'grey' in cmd
                    else b'250 ok\r\n')
        if verb == 'DATA':
            conn.sendall(b'354 go\r\n')
            data = []
            for line in f:
                if line == b'.\r\n':
                    break
                data.append(line)
            self.messages.append(b''.join(data))
            return b'250 queued\r\n'
        return b'502 not here\r\n'

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                f = conn.makefile('rb')
                conn.sendall(b'220 fake ESMTP\r\n')
                for line in f:
                    cmd = line.decode('latin-1').rstrip('\r\n')
                    self.commands.append(cmd)
                    conn.sendall(self.reply(conn, f, cmd))
                    if cmd.upper() == 'QUIT':
                        break

    def close(self):
        self.sock.close()


def parse(raw):
    return email.message_from_bytes(raw, policy=email.policy.default)


def by_subject(msgs, subject):
    return [raw for _, _, raw in msgs if str(parse(raw)['Subject']) ==
            subject]


def rfc822_part(raw):
    """The bytes of the first message/rfc822 part, cut by hand at the
    boundary (RFC 2046: the CRLF before a delimiter belongs to it)."""
    m = parse(raw)
    boundary = m.get_boundary().encode()
    head, _, body = raw.partition(b'\r\n\r\n')
    parts = body.split(b'\r\n--' + boundary)
    for p in parts[1:]:
        phead, _, content = p.partition(b'\r\n\r\n')
        if b'message/rfc822' in phead.lower():
            return phead, content
    return None, None


def without_return_path(raw):
    head, sep, body = raw.partition(b'\r\n\r\n')
    lines = [ln for ln in head.split(b'\r\n')
             if not ln.lower().startswith(b'return-path:')]
    return b'\r\n'.join(lines) + sep + body


def main():
    t = Tap()
    with Harness() as h:
        t.harness = h
        cfg = config(h, RULES)
        h.deliver('bot', original('attach test', 'f1@example.test',
                                  body=ATTACHED,
                                  extra=['Content-Type: multipart/mixed; '
                                         'boundary="zz"']))
        h.deliver('bot', original('inline test', 'f2@example.test'))
        h.deliver('bot', original('redirect test', 'f3@example.test'))
        h.deliver('bot', original('Order 4711', 'f4@example.test'))
        h.deliver('bot', original('partial test', 'f5@example.test'))
        h.deliver('bot', original('nobody test', 'f6@example.test'))
        h.deliver('bot', original('many test', 'f8@example.test'))
        h.add_user('carol')
        bot = {str(parse(raw)['Subject']): raw
               for _, _, raw in h.fetch_all('bot')}

        cp = h.facteur('run', '--once', '-c', cfg, valgrind=True)
        t.eq(cp.returncode, 0, 'run exits 0 (no leak, no error under '
             'valgrind)')
        if cp.returncode != 0:
            t.diag(cp.stderr[-3000:])
            t.diag(getattr(cp, 'valgrind', '') or '')
        h.wait_for_messages('alice', 4)
        h.wait_for_messages('bob', 2)
        alice = h.fetch_all('alice')
        bob = h.fetch_all('bob')
        t.eq(len(alice), 4, 'alice got attach, inline, redirect and the '
             'partial forward')
        t.eq(len(bob), 2, 'bob got the redirect and the notification')

        # as: attachment
        got = by_subject(alice, 'Fwd: attach test')
        t.eq(len(got), 1, 'the attachment forward arrived once')
        raw = got[0] if got else b''
        m = parse(raw) if raw else None
        if m is not None:
            t.eq(m.get_content_type(), 'multipart/mixed',
                 'attachment forward is multipart/mixed')
            t.eq(m['From'].addresses[0].addr_spec, 'bot@example.test',
                 'From is smtp.from')
            t.eq(m['To'].addresses[0].addr_spec, 'alice@example.test',
                 'To is the target')
            t.eq(m['Auto-Submitted'], 'auto-generated',
                 'Auto-Submitted: auto-generated')
            t.eq(m['Return-Path'], '<bot@example.test>',
                 'envelope sender is smtp.from')
            t.ok(re.fullmatch(r'<facteur\.[0-9a-f]{32}@example\.test>',
                              m['Message-ID'] or ''), 'a derived Message-ID')
            types = [p.get_content_type() for p in m.iter_parts()]
            t.eq(types, ['text/plain', 'message/rfc822'],
                 'a text part, then the message/rfc822 part')
            phead, content = rfc822_part(raw)
            t.ok(content is not None, 'the message/rfc822 part is found')
            t.eq(content, bot['attach test'], 'the attached part is the '
                 'original byte for byte')
            t.ok(b'base64' not in (phead or b'').lower() and
                 b'quoted-printable' not in (phead or b'').lower(),
                 'the attached message is not re-encoded', phead)

        # as: inline
        got = by_subject(alice, 'Fwd: inline test')
        t.eq(len(got), 1, 'the inline forward arrived once')
        if got:
            m = parse(got[0])
            t.eq(m.get_content_type(), 'text/plain', 'inline forward is '
                 'text/plain')
            body = m.get_content().replace('\r\n', '\n')
            want = ('---------- Forwarded message ----------\n'
                    'From: Carol Dürr <carol@example.test>\n'
                    'Date: Sun, 22 Nov 2026 10:00:00 +0100\n'
                    'Subject: inline test\n'
                    'To: Bot <bot@example.test>\n'
                    'Cc: dave@example.test\n'
                    '\n'
                    'Grüße aus Köln.\n')
            t.eq(body, want, 'the header block, then the original text')
            t.eq(m['Auto-Submitted'], 'auto-generated',
                 'inline forward is marked auto-generated')

        # as: redirect
        orig = bot['redirect test']
        for who, msgs in (('alice', alice), ('bob', bob)):
            got = [raw for _, _, raw in msgs
                   if b'Message-ID: <f3@example.test>' in raw]
            t.eq(len(got), 1, 'redirect reached %s once' % who)
            if not got:
                continue
            raw = got[0]
            tail = without_return_path(orig)
            t.ok(raw.endswith(tail), '%s: the original (less Return-Path) '
                 'is there byte for byte' % who)
            t.eq(raw.partition(b'\r\n\r\n')[2],
                 orig.partition(b'\r\n\r\n')[2],
                 '%s: the body is byte-identical' % who)
            before = raw[:len(raw) - len(tail)]
            block = before.split(b'\r\n')[-5:-1]
            names = [ln.split(b':')[0] for ln in block]
            t.eq(names, [b'Resent-From', b'Resent-To', b'Resent-Date',
                         b'Resent-Message-ID'],
                 '%s: Resent-* fields right before the original' % who)
            m = parse(raw)
            t.eq(m['Resent-From'], 'Bot <bot@example.test>',
                 '%s: Resent-From is smtp.from' % who)
            t.eq(m['Resent-To'], 'alice@example.test, bob@example.test',
                 '%s: Resent-To lists the targets' % who)
            t.ok(m['Resent-Date'] is not None and
                 m['Resent-Date'].datetime is not None,
                 '%s: Resent-Date is a date' % who)
            t.ok(re.fullmatch(r'<facteur\.[0-9a-f]{32}@example\.test>',
                              m['Resent-Message-ID'] or ''),
                 '%s: Resent-Message-ID is derived' % who)
            t.eq(m['Return-Path'], '<bot@example.test>',
                 '%s: new envelope sender' % who)
            t.eq(len(m.get_all('Return-Path')), 1,
                 '%s: one Return-Path, the new one' % who)

        # a long Resent-To is folded
        h.wait_for_messages('carol', 1)
        raw = h.fetch_all('carol')[0][2]
        head = raw.partition(b'\r\n\r\n')[0]
        field = re.search(rb'^Resent-To:.*?(?=\r\n\S)', head,
                          re.M | re.S).group(0)
        t.ok(b'\r\n ' in field and
             all(len(ln) <= 78 for ln in field.split(b'\r\n')),
             'a long Resent-To is folded under 78 columns', field)
        t.eq(re.sub(r'\s+', ' ', str(parse(raw)['Resent-To'])),
             'carol+first@example.test, carol+second@example.test, '
             'carol+third@example.test, carol+fourth@example.test, '
             'carol+fifth@example.test', 'and lists all five targets')

        # notify
        got = by_subject(bob, 'New order 4711')
        t.eq(len(got), 1, 'the notification reached bob')
        if got:
            m = parse(got[0])
            t.eq(m.get_content().replace('\r\n', '\n'),
                 'Order 4711 from carol@example.test.\n',
                 'notification body rendered')
            t.eq(m['From'].addresses[0].addr_spec, 'bot@example.test',
                 'notification from smtp.from')
            t.eq(m['Auto-Submitted'], 'auto-generated',
                 'notification marked auto-generated')
            t.eq(m['In-Reply-To'], None, 'a notification is no reply')

        # one refused recipient among two
        got = by_subject(alice, 'Fwd: partial test')
        t.eq(len(got), 1, 'alice got the forward although nosuch@ was '
             'refused')
        line = re.search(r'forward failed: (smtp: sent, but.*)', cp.stderr)
        t.ok(line is not None and 'nosuch@example.test (550' in
             line.group(1) and '1 of 2 recipients refused' in line.group(1),
             'the refused recipient is named with its reply',
             line.group(0) if line else cp.stderr[-1500:])
        t.ok(line is not None and 'alice@example.test (' not in
             line.group(1), 'the accepted recipient is not reported '
             'refused')

        # every recipient refused: permanent, each one named
        line = re.search(r'forward failed: (smtp: every recipient.*)',
                         cp.stderr)
        t.ok(line is not None and
             'nosuch@example.test (550' in line.group(1) and
             'ghost@elsewhere.test (550' in line.group(1),
             'with every recipient refused, each is named with its 550',
             line.group(0) if line else cp.stderr[-1500:])
        t.eq(len(re.findall(r'id=facteur\.', h.log('smtp'))), 6,
             'Exim took six messages from facteur (none for "nobody")')

        # TLS is required: a server without STARTTLS gets no password
        # and no mail, and the send waits for a retry.
        fake = FakeSmtp()
        try:
            text = open(cfg).read().replace(
                'smtps://127.0.0.1:%d' % h.ports['smtps'],
                'smtp://127.0.0.1:%d' % fake.port).replace(
                'url: imaps://127.0.0.1:%d/INBOX' % h.ports['imaps'],
                'url: imaps://127.0.0.1:%d/NoTLS' % h.ports['imaps']).replace(
                'state.db', 'notls.db')
            notls = h.write_config(text, 'notls.yaml')
            h.deliver('bot', original('Order 99', 'f7@example.test'),
                      mailbox='NoTLS')
            cp2 = h.facteur('run', '--once', '-c', notls)
        finally:
            fake.close()
        verbs = [c.split(' ')[0].upper() for c in fake.commands]
        t.ok('EHLO' in verbs, 'facteur reached the server without STARTTLS',
             repr(fake.commands))
        t.ok(not {'AUTH', 'MAIL', 'RCPT', 'DATA'} & set(verbs),
             'no AUTH, MAIL, RCPT or DATA without TLS', repr(fake.commands))
        t.ok(re.search(r'notify will retry: smtp: .*SSL', cp2.stderr),
             'the notification waits for a retry, the cause says TLS',
             cp2.stderr[-1500:])

        # A temporary refusal (451) of one recipient among two: the mail
        # went to the other, so no retry (it would go twice); of the only
        # recipient: retried later.
        fake = FakeSmtp()
        try:
            grey = GREY_RULES.replace('PORT', str(fake.port))
            gpath = os.path.join(h.tmp, 'facteur', 'grey.rules.yaml')
            with open(gpath, 'w') as f:
                f.write(grey)
            text = open(cfg).read().replace(
                'smtps://127.0.0.1:%d' % h.ports['smtps'],
                'smtp://127.0.0.1:%d\n  tls: none' % fake.port).replace(
                '  user: bot\n  password: secret\n  from:', '  from:', 1).replace(
                'url: imaps://127.0.0.1:%d/INBOX' % h.ports['imaps'],
                'url: imaps://127.0.0.1:%d/Grey' % h.ports['imaps']).replace(
                'state.db', 'grey.db').replace(
                os.path.join(h.tmp, 'facteur', 'rules.yaml'), gpath)
            gcfg = h.write_config(text, 'grey.yaml')
            h.deliver('bot', original('one grey', 'g1@example.test'),
                      mailbox='Grey')
            h.deliver('bot', original('all grey', 'g2@example.test'),
                      mailbox='Grey')
            cp2 = h.facteur('run', '--once', '-c', gcfg)
        finally:
            fake.close()
        t.eq(len(fake.messages), 1, 'greylisting: one message was sent '
             '(to the recipient that took it)')
        line = re.search(r'notify failed: (.*)', cp2.stderr)
        t.ok(line is not None and 'sent, but 1 of 2 recipients refused: '
             'grey1@example.test (451 4.7.1 greylisted' in line.group(1),
             'one of two greylisted: named, not retried',
             line.group(0) if line else cp2.stderr[-1500:])
        t.ok(re.search(r'notify will retry: smtp: every recipient refused: '
                       r'grey2@example\.test \(451', cp2.stderr),
             'the only recipient greylisted: retried later',
             cp2.stderr[-1500:])

        # tls: none is the one way to send in clear (no AUTH then).
        text = open(cfg).read().replace(
            'smtps://127.0.0.1:%d' % h.ports['smtps'],
            'smtp://127.0.0.1:%d\n  tls: none' % h.ports['smtp']).replace(
            '  user: bot\n  password: secret\n  from:', '  from:', 1).replace(
            'url: imaps://127.0.0.1:%d/INBOX' % h.ports['imaps'],
            'url: imaps://127.0.0.1:%d/Plain' % h.ports['imaps']).replace(
            'state.db', 'plain.db')
        plain = h.write_config(text, 'plain.yaml')
        h.deliver('bot', original('Order 123', 'f9@example.test'),
                  mailbox='Plain')
        cp2 = h.facteur('run', '--once', '-c', plain)
        t.eq(cp2.returncode, 0, 'tls: none: run exits 0')
        h.wait_for_messages('bob', 3)
        line = [ln for ln in h.log('smtp').splitlines()
                if ' <= ' in ln and 'id=facteur.' in ln][-1:]
        t.ok(line and ' X=' not in line[0] and ' A=' not in line[0],
             'tls: none: sent in clear, without AUTH', line)
        t.eq(len(by_subject(h.fetch_all('bob'), 'New order 123')), 1,
             'tls: none: the notification arrived')

        cp = h.facteur('run', '--once', '-c', cfg)
        t.eq(cp.returncode, 0, 'second run exits 0')
        t.eq(h.count('alice'), 4, 'a second run forwards nothing again')
        t.ok('nobody' not in cp.stderr and 'forward' not in cp.stderr,
             'the permanent failure is not retried', cp.stderr[-1000:])
    t.done()


if __name__ == '__main__':
    main()
