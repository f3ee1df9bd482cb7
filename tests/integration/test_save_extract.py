#!/usr/bin/env python3
"""save and extract: a message read over IMAP from the harness's Dovecot is
saved to a Maildir and its attachments written to directories. Checked:
the saved file is the message byte for byte, in new/ with tmp/ left empty;
attachment bytes equal Python's own MIME decoding; hostile file names land
inside the directory under safe names; an existing file is never
replaced; the type pattern selects; and a retry after a crash (simulated by
putting the journal back to "pending" after the work was done) writes no
second copy of anything."""
import base64
import email
import email.policy
import os
import sqlite3
import stat
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Harness, Tap  # noqa: E402

RULES = r'''rules:
  - name: keep
    if: {subject: '^\[files\]'}
    then:
      - save: {maildir: saved}
      - extract: {dir: out/docs, type: '^(application/pdf|image/)'}
      - extract: {dir: out/all}
'''

PDF1 = bytes(range(256)) * 3 + b'%PDF-first'
PDF2 = b'%PDF-second, another report with the same name\n'
PNG = b'\x89PNG\r\n\x1a\n' + bytes(range(255, -1, -1))
NOTES = 'Caf\u00e9 notes: \u00e0 lire.'  # the last CRLF is the boundary's
ESCAPE = b'would escape with ../../\n'
PASSWD = b'root:x:0:0\n'
HIDDEN = b'hidden\n'
CTRL = b'control characters\n'
NAMELESS = b'%PDF-nameless\n'


def b64part(ctype, disp_params, data):
    return ('Content-Type: %s\nContent-Disposition: attachment%s\n'
            'Content-Transfer-Encoding: base64\n\n%s\n' % (
                ctype, disp_params,
                base64.encodebytes(data).decode().strip()))


def message():
    parts = [
        'Content-Type: text/plain; charset=utf-8\n\nSee attached.\n',
        b64part('application/pdf', '; filename="report.pdf"', PDF1),
        b64part('image/png', '; filename="photo.png"', PNG),
        'Content-Type: text/plain; charset=utf-8\n'
        'Content-Disposition: attachment; filename="notes.txt"\n'
        'Content-Transfer-Encoding: quoted-printable\n\n'
        'Caf=C3=A9 notes: =C3=A0 lire.\n',
        b64part('application/pdf', '; filename="../../escape.pdf"', ESCAPE),
        b64part('application/pdf', '; filename="/etc/passwd"', PASSWD),
        b64part('application/pdf', '; filename=".hidden.pdf"', HIDDEN),
        b64part('application/pdf',
                "; filename*=utf-8''evil%0A%0Dname.pdf", CTRL),
        b64part('application/pdf', '', NAMELESS),
        b64part('application/pdf', '; filename="report.pdf"', PDF2),
    ]
    head = ('From: Alice <alice@example.test>\nTo: bot@example.test\n'
            'Subject: [files] the documents\n'
            'Message-ID: <files-1@example.test>\nMIME-Version: 1.0\n'
            'Content-Type: multipart/mixed; boundary="=b="\n\n')
    body = ''.join('--=b=\n' + p for p in parts) + '--=b=--\n'
    return (head + body).replace('\n', '\r\n').encode()


def python_parts(raw):
    """(filename, content_type, bytes) of each attachment, by Python."""
    m = email.message_from_bytes(raw, policy=email.policy.default)
    return [(p.get_filename(), p.get_content_type(),
             p.get_payload(decode=True)) for p in m.iter_attachments()]


def listing(d):
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def redo(state, msgid):
    """Simulate a crash after the actions did their work but before the
    journal recorded it: every action pending again, the message planned,
    and the mailbox's last UID moved back so IMAP fetches it again."""
    db = sqlite3.connect(state)
    try:
        db.execute('UPDATE action SET status = 0, attempts = 0, '
                   'next_attempt = 0 WHERE message IN (SELECT id FROM '
                   'message WHERE message_id = ?)', (msgid,))
        db.execute('UPDATE message SET status = 1 WHERE message_id = ?',
                   (msgid,))
        db.execute('UPDATE mailbox SET last_uid = 0')
        db.commit()
    finally:
        db.close()


def statuses(state, msgid):
    db = sqlite3.connect(state)
    try:
        return [r[0] for r in db.execute(
            'SELECT a.status FROM action a JOIN message m ON a.message = '
            'm.id WHERE m.message_id = ? ORDER BY a.idx', (msgid,))]
    finally:
        db.close()


def main():
    t = Tap()
    with Harness() as h:
        t.harness = h
        fdir = os.path.join(h.tmp, 'facteur')
        rdir = os.path.join(fdir, 'rules')
        os.makedirs(rdir)
        rules = os.path.join(rdir, 'files.yaml')
        with open(rules, 'w') as f:
            f.write(RULES)
        state = os.path.join(fdir, 'state.db')
        cfg = h.write_config('''state: %(state)s
accounts:
  - name: files
    url: imap://127.0.0.1:%(imap)d/INBOX
    user: bot
    password: secret
    ca_file: %(ca)s
    after: keep
    rules: [%(rules)s]
''' % dict(state=state, imap=h.ports['imap'], ca=h.ca_file, rules=rules))
        maildir = os.path.join(rdir, 'saved')
        docs = os.path.join(rdir, 'out', 'docs')
        alld = os.path.join(rdir, 'out', 'all')
        # A file already there must survive.
        os.makedirs(docs)
        with open(os.path.join(docs, 'photo.png'), 'wb') as f:
            f.write(b'precious')

        raw = message()
        uid = h.deliver('bot', raw)
        stored = [m for u, _, m in h.fetch_all('bot') if u == uid][0]
        cp = h.facteur('run', '--once', '-c', cfg, valgrind=True)
        t.eq(cp.returncode, 0, 'run exits 0 (no leak or error under '
             'valgrind)')
        if cp.returncode != 0:
            t.diag(cp.stderr[-3000:])
            t.diag(getattr(cp, 'valgrind', '') or '')
        t.eq(statuses(state, 'files-1@example.test'), [1, 1, 1],
             'journal: the three actions done')

        @t.test('save: the message in new/, byte for byte')
        def _():
            new = listing(os.path.join(maildir, 'new'))
            t.eq(len(new), 1, 'one file in new/')
            t.eq(listing(os.path.join(maildir, 'tmp')), [], 'tmp/ empty')
            t.ok(os.path.isdir(os.path.join(maildir, 'cur')), 'cur/ made')
            with open(os.path.join(maildir, 'new', new[0]), 'rb') as f:
                t.eq(f.read(), stored, 'the bytes IMAP gives')
            t.ok(':' not in new[0] and not new[0].startswith('.'),
                 'a plain Maildir name', new[0])

        # Expected names, worked out by hand from the rules in exec-name.h.
        by_py = python_parts(raw)
        py = {name: data for name, _, data in by_py if name}
        nameless = [d for n, _, d in by_py if not n]
        want_docs = {
            'report.pdf': PDF1,
            'photo-1.png': PNG,
            'escape.pdf': ESCAPE,
            'passwd': PASSWD,
            '_hidden.pdf': HIDDEN,
            'evil__name.pdf': CTRL,
            'attachment.pdf': NAMELESS,
            'report-1.pdf': PDF2,
        }

        @t.test('extract: bytes equal Python\'s decoding of the parts')
        def _():
            t.eq(py['photo.png'], PNG, 'python agrees on the PNG')
            t.eq(nameless, [NAMELESS], 'python sees one nameless part')
            got = {n: open(os.path.join(docs, n), 'rb').read()
                   for n in listing(docs)}
            t.eq(sorted(got), sorted(list(want_docs) + ['photo.png']),
                 'the names in the pdf/image directory')
            for name, data in want_docs.items():
                t.eq(got.get(name), data, '%s has its part\'s bytes' % name)
            t.eq(got.get('photo.png'), b'precious',
                 'the file already there is not replaced')
            t.eq(py['notes.txt'].decode('utf-8'), NOTES,
                 'python decodes the text attachment')
            with open(os.path.join(alld, 'notes.txt'), 'rb') as f:
                t.eq(f.read(), py['notes.txt'],
                     'no type pattern: the text attachment too')
            t.ok('notes.txt' not in got, 'the type pattern left it out '
                 'of the pdf/image directory')
            t.eq(len(listing(alld)), 9, 'all nine attachments in out/all')
            modes = {stat.S_IMODE(os.stat(os.path.join(docs, n)).st_mode)
                     for n in want_docs}
            t.eq(modes, {0o600}, 'files are 0600')

        @t.test('hostile names stay inside the directory')
        def _():
            t.ok(not os.path.exists(os.path.join(rdir, 'escape.pdf')) and
                 not os.path.exists(os.path.join(rdir, 'out',
                                                 'escape.pdf')),
                 'no escape.pdf above the directory')
            with open('/etc/passwd', 'rb') as f:
                t.ok(f.read() != PASSWD, '/etc/passwd untouched')
            hidden = [n for d in (docs, alld) for n in listing(d)
                      if n.startswith('.')]
            t.eq(hidden, [], 'no hidden file, no temporary left behind')

        @t.test('a retry after a crash writes no second copy')
        def _():
            before = (listing(docs), listing(alld),
                      listing(os.path.join(maildir, 'new')))
            redo(state, 'files-1@example.test')
            cp = h.facteur('run', '--once', '-c', cfg)
            t.eq(cp.returncode, 0, 'run exits 0')
            t.eq(statuses(state, 'files-1@example.test'), [1, 1, 1],
                 'journal: done again')
            t.ok('saved already' in cp.stderr, 'the actions did run again',
                 cp.stderr[-1500:])
            t.eq((listing(docs), listing(alld),
                  listing(os.path.join(maildir, 'new'))), before,
                 'the same files, no copies')
            # A reader moved the message to cur/ and marked it seen.
            name = before[2][0]
            os.rename(os.path.join(maildir, 'new', name),
                      os.path.join(maildir, 'cur', name + ':2,S'))
            redo(state, 'files-1@example.test')
            h.facteur('run', '--once', '-c', cfg)
            t.eq(listing(os.path.join(maildir, 'new')), [],
                 'seen in cur/: not saved again')
    t.done()


if __name__ == '__main__':
    main()
