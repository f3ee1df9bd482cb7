#!/usr/bin/env python3
"""The IMAP server actions against Dovecot: move (with MOVE, and with COPY +
\\Deleted + EXPUNGE on a Dovecot that does not announce MOVE or UIDPLUS),
copy, flag add/remove, delete. Results are read back over IMAP; a second run
changes nothing; an action repeated after a crash changes nothing more; a
keyword that could inject IMAP syntax, \\Recent or a non-ASCII keyword is
refused by `facteur check`; a Maildir account gets a clear permanent
failure."""
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Harness, HarnessError, Tap, wait_until  # noqa: E402

RULES = r'''rules:
  - name: mover
    if: {subject: '^move-me$'}
    then:
      - move: Orders/Confirmed
  - name: mover-unicode
    if: {subject: '^move-unicode$'}
    then:
      - move: "Reçus & Co 📦"
  - name: copier
    if: {subject: '^copy-me$'}
    then:
      - copy: Archive
  - name: flagger
    if: {subject: '^flag-me$'}
    then:
      - flag: {add: ['\Flagged', processed], remove: ['\Draft']}
  - name: deleter
    if: {subject: '^delete-me$'}
    then:
      - delete
  - name: twice
    if: {subject: '^move-twice$'}
    then:
      - move: Orders/Twice
      - flag: {add: [late]}
'''

SUBJECTS = ['move-me', 'move-unicode', 'copy-me', 'flag-me', 'delete-me',
            'move-twice', 'untouched']


def message(subject):
    return ('From: Alice <alice@example.test>\r\n'
            'To: bot@example.test\r\n'
            'Subject: %s\r\n'
            'Message-ID: <%s@example.test>\r\n'
            '\r\n'
            'Body of %s.\r\n' % (subject, subject, subject)).encode()


def write_rules(h, text, name='rules.yaml'):
    path = os.path.join(h.tmp, 'facteur', name)
    with open(path, 'w') as f:
        f.write(text)
    return path


def config(h, rules, after='seen', name='facteur.yaml'):
    return h.write_config('''state: %(tmp)s/facteur/%(name)s.db
accounts:
  - name: bot
    url: imaps://127.0.0.1:%(imaps)d/INBOX
    user: bot
    password: secret
    ca_file: %(ca)s
    after: %(after)s
    rules: [%(rules)s]
''' % dict(tmp=h.tmp, imaps=h.ports['imaps'], ca=h.ca_file, rules=rules,
           after=after, name=name), name=name)


def by_subject(msgs):
    out = {}
    for uid, flags, raw in msgs:
        for line in raw.split(b'\r\n'):
            if line.startswith(b'Subject: '):
                out.setdefault(line[9:].decode(), []).append(
                    (uid, set(flags), raw))
    return out


def flags_of(h, user, subject, mailbox='INBOX'):
    got = by_subject(h.fetch_all(user, mailbox)).get(subject, [])
    return got[0][1] if len(got) == 1 else None


def snapshot(h):
    out = {}
    for mb in h.mailboxes('bot'):
        try:
            out[mb] = sorted((sorted(f), raw)
                             for _, f, raw in h.fetch_all('bot', mb))
        except HarnessError:
            out[mb] = None          # \Noselect: the parent of a new folder
    return out


def with_move(t, h):
    rules = write_rules(h, RULES)
    cfg = config(h, rules)
    cp = h.facteur('check', '-c', cfg)
    t.eq(cp.returncode, 0, 'facteur check accepts the rules')
    h.deliver('bot', message('flag-me'), flags=('\\Draft',))
    for s in SUBJECTS:
        if s != 'flag-me':
            h.deliver('bot', message(s))
    t.ok('Orders/Confirmed' not in h.mailboxes('bot'),
         'the move target does not exist yet')

    cp = h.facteur('run', '--once', '-c', cfg, valgrind=True)
    t.eq(cp.returncode, 0, 'first run exits 0 (no error, no leak under '
         'valgrind)')
    if cp.returncode != 0:
        t.diag(cp.stderr[-3000:])
        t.diag(getattr(cp, 'valgrind', '') or '')
    t.ok('after-policy' not in cp.stderr and 'failed' not in cp.stderr and
         'will retry' not in cp.stderr,
         'no action failed and no after policy ran on a moved or deleted '
         'message', cp.stderr[-2000:])

    inbox = by_subject(h.fetch_all('bot'))
    t.eq(sorted(inbox), ['copy-me', 'flag-me', 'untouched'],
         'moved and deleted messages left INBOX, the others stayed')
    boxes = h.mailboxes('bot')
    t.ok('Orders/Confirmed' in boxes, 'the missing folder was created',
         repr(boxes))
    conf = h.fetch_all('bot', 'Orders/Confirmed')
    t.eq([raw for _, _, raw in conf], [message('move-me')],
         'Orders/Confirmed holds the moved message, byte for byte')
    t.ok('Reçus & Co 📦' in boxes, 'a non-ASCII folder name is created '
         '(modified UTF-7 on the wire)', repr(boxes))
    t.eq([raw for _, _, raw in h.fetch_all('bot', 'Reçus & Co 📦')],
         [message('move-unicode')], 'the message moved into it')
    t.eq([raw for _, _, raw in h.fetch_all('bot', 'Archive')],
         [message('copy-me')], 'Archive holds the copy')
    t.eq(inbox['copy-me'][0][1], {'\\Seen'},
         'the copied original stays and gets after: seen')
    t.eq(inbox['flag-me'][0][1], {'\\Flagged', 'processed', '\\Seen'},
         'flag added \\Flagged and a keyword, removed \\Draft '
         '(\\Seen from after: seen)')
    t.eq(inbox['untouched'][0][1], {'\\Seen'},
         'a message no rule matched gets only after: seen')
    t.ok(all(message('delete-me') not in [raw for _, raw in v or []]
             for v in snapshot(h).values()),
         'the deleted message is nowhere (not moved to Trash)')
    t.eq([raw for _, _, raw in h.fetch_all('bot', 'Orders/Twice')],
         [message('move-twice')], 'move then flag: moved once')

    db = sqlite3.connect(os.path.join(h.tmp, 'facteur', 'facteur.yaml.db'))
    rows = db.execute("SELECT a.type, a.status, a.last_error FROM action a "
                      "JOIN message m ON m.id = a.message "
                      "WHERE m.message_id = 'move-twice@example.test' "
                      "ORDER BY a.idx").fetchall()
    t.eq([(r[0], r[1]) for r in rows], [('move', 1), ('flag', 1)],
         'a flag on a UID already moved away is done, not an error')
    db.close()

    before = snapshot(h)
    cp = h.facteur('run', '--once', '-c', cfg)
    t.eq(cp.returncode, 0, 'second run exits 0')
    t.ok(' done ' not in cp.stderr and 'failed' not in cp.stderr,
         'second run processes nothing', cp.stderr[-2000:])
    t.eq(snapshot(h), before, 'second run changes no folder and no flag')

    # A crash after the server acted but before the journal said so: the
    # flag action runs again on the same message.
    db = sqlite3.connect(os.path.join(h.tmp, 'facteur', 'facteur.yaml.db'))
    n = db.execute("UPDATE action SET status = 0, done_at = NULL WHERE "
                   "message = (SELECT id FROM message WHERE message_id = "
                   "'flag-me@example.test')").rowcount
    db.execute("UPDATE message SET status = 1 WHERE message_id = "
               "'flag-me@example.test'")
    db.execute("UPDATE mailbox SET last_uid = 0")
    db.commit()
    db.close()
    t.eq(n, 1, 'the journal holds one flag action to replay')
    cp = h.facteur('run', '--once', '-c', cfg)
    t.eq(cp.returncode, 0, 'the replay run exits 0')
    t.ok(re.search(r'<flag-me@example\.test>: .*; done \(journal',
                   cp.stderr),
         'the replayed message finishes', cp.stderr[-2000:])
    t.eq(snapshot(h), before, 'repeating the flag action changes nothing')


def bad_keywords(t, h):
    for kw, what in (('two words', 'a space'), ('a\\r\\nX', 'CR LF'),
                     ('a)b', 'a parenthesis')):
        rules = write_rules(h, 'rules:\n  - name: bad\n    if: {subject: x}\n'
                            '    then:\n      - flag: {add: ["ok", "%s"]}\n'
                            % kw, 'bad.yaml')
        cfg = config(h, rules, name='bad-config.yaml')
        cp = h.facteur('check', '-c', cfg)
        t.eq(cp.returncode, 78, 'facteur check refuses a keyword with %s'
             % what)
        t.ok('bad.yaml:5:' in cp.stderr and 'is not a flag' in cp.stderr,
             'the error names the rule file, line and column', cp.stderr)


def same_mailbox(t, h):
    """move: inbox moves mail from another mailbox into INBOX; on INBOX
    itself (any case) it is refused for good, or the message would come
    back under a new UID and be moved again, forever."""
    rules = write_rules(h, 'rules:\n  - name: to-inbox\n    then:\n'
                        '      - move: inbox\n', 'inbox-rules.yaml')
    h.create_mailbox('bot', 'Same')
    h.deliver('bot', message('same-1'), mailbox='Same')
    n = h.count('bot')
    cfg = h.write_config(open(config(h, rules, after='keep',
                                     name='same.yaml')).read()
                         .replace('/INBOX', '/Same'), name='same.yaml')
    cp = h.facteur('run', '--once', '-c', cfg)
    t.eq(cp.returncode, 0, 'move from Same to inbox: exit 0')
    t.eq((h.count('bot', 'Same'), h.count('bot')), (0, n + 1),
         'the message left Same for INBOX')

    cfg = config(h, rules, after='keep', name='inbox.yaml')
    cp = h.facteur('run', '--once', '-c', cfg)
    t.ok("move: the message is in 'inbox' already" in cp.stderr,
         'move into its own mailbox fails with a clear cause',
         cp.stderr[-1500:])
    t.eq(h.count('bot'), n + 1, 'INBOX keeps its messages')


def refused_by_flags(t, h):
    """What IMAP cannot carry or a client may not set: \\Recent and a
    non-ASCII keyword. The rule loader refuses each, naming the place, so
    neither `facteur check` nor `facteur run` lets it through."""
    for i, (flag, what) in enumerate((('\\Recent', 'a system flag a client '
                                      'may not set'),
                                     ('café', 'a non-ASCII keyword'))):
        box = 'Kw%d' % i
        rules = write_rules(h, 'rules:\n  - name: kw\n    then:\n'
                            '      - flag: {add: ["%s"]}\n'
                            % flag.replace('\\', '\\\\'),
                            'kw%d-rules.yaml' % i)
        cfg = h.write_config(open(config(h, rules, after='keep',
                                         name='kw%d.yaml' % i)).read()
                             .replace('/INBOX', '/' + box),
                             name='kw%d.yaml' % i)
        cp = h.facteur('check', '-c', cfg)
        t.eq(cp.returncode, 78, '%s is refused by facteur check' % what)
        # The flag's opening quote: line 4, column 22 of the rule file.
        t.ok("kw%d-rules.yaml:4:22: '%s' is not a flag" % (i, flag)
             in cp.stderr, 'the error names the rule file, line and column',
             cp.stderr)
        h.create_mailbox('bot', box)
        h.deliver('bot', message('kw'), mailbox=box)
        cp = h.facteur('run', '--once', '-v', '-c', cfg,
                       valgrind=(i == 0))
        t.eq(cp.returncode, 78, '%s: facteur run refuses the rules' % what)
        t.ok('UID STORE' not in cp.stderr, 'no STORE was sent')
        t.eq([set(f) for _, f, _ in h.fetch_all('bot', box)], [set()],
             'the message keeps no flag')


def move_waits(t):
    """A move (or delete) after an action that will be retried waits for it:
    once the message left its mailbox it would never be fetched again, and
    the retry would never happen."""
    with Harness() as h:
        t.harness = h
        rules = write_rules(h, 'rules:\n  - name: answer-then-file\n'
                            '    then:\n      - reply: {body: "Got it."}\n'
                            '      - move: Archive\n')
        state = os.path.join(h.tmp, 'facteur', 'wait.db')
        cfg = h.write_config('''state: %(state)s
smtp:
  url: smtps://127.0.0.1:%(smtps)d
  user: bot
  password: secret
  from: bot@example.test
  ca_file: %(ca)s
accounts:
  - name: bot
    url: imaps://127.0.0.1:%(imaps)d/INBOX
    user: bot
    password: secret
    ca_file: %(ca)s
    after: keep
    addresses: [bot@example.test]
    rules: [%(rules)s]
''' % dict(state=state, smtps=h.ports['smtps'], imaps=h.ports['imaps'],
           ca=h.ca_file, rules=rules), name='wait.yaml')
        h.deliver('bot', message('wait-for-me'))
        h.stop_smtp()
        cp = h.facteur('run', '--once', '-c', cfg)
        t.ok('reply will retry' in cp.stderr, 'the reply fails for now '
             '(SMTP server down)', cp.stderr[-1500:])
        t.ok('move waits for the actions before it' in cp.stderr,
             'the move says it waits', cp.stderr[-1500:])
        t.eq(sorted(by_subject(h.fetch_all('bot'))), ['wait-for-me'],
             'the message stays in INBOX')
        t.eq(h.count('bot', 'Archive'), 0, 'nothing in Archive yet')

        h.start_smtp()
        db = sqlite3.connect(state)
        db.execute('UPDATE action SET next_attempt = 0')     # time passes
        db.commit()
        db.close()
        cp = h.facteur('run', '--once', '-c', cfg)
        t.eq(cp.returncode, 0, 'the next run exits 0')
        h.wait_for_messages('alice', 1)
        t.eq(len(h.fetch_all('alice')), 1, 'the reply went out once')
        t.eq([raw for _, _, raw in h.fetch_all('bot', 'Archive')],
             [message('wait-for-me')], 'then the message moved')
        t.eq(h.count('bot'), 0, 'INBOX is empty')
        db = sqlite3.connect(state)
        rows = db.execute('SELECT type, status FROM action ORDER BY idx'
                          ).fetchall()
        db.close()
        t.eq(rows, [('reply', 1), ('move', 1)], 'both actions are done')


def maildir_account(t, h):
    md = os.path.join(h.tmp, 'facteur', 'md')
    for d in ('new', 'cur', 'tmp'):
        os.makedirs(os.path.join(md, d), exist_ok=True)
    path = os.path.join(md, 'new', '1.1.host')
    with open(path, 'wb') as f:
        f.write(message('move-me'))
    rules = write_rules(h, RULES, 'md-rules.yaml')
    cfg = h.write_config('''state: %s/facteur/md.db
accounts:
  - name: md
    url: maildir:%s
    after: keep
    rules: [%s]
''' % (h.tmp, md, rules), name='md.yaml')
    cp = h.facteur('run', '--once', '-c', cfg)
    t.ok('move needs an IMAP account' in cp.stderr,
         'move on a Maildir message fails with a clear cause', cp.stderr)
    t.ok(os.path.exists(path), 'the Maildir message is left where it was')
    db = sqlite3.connect(os.path.join(h.tmp, 'facteur', 'md.db'))
    rows = db.execute('SELECT status FROM action').fetchall()
    db.close()
    t.eq(rows, [(2,)], 'the journal records the move as failed for good')


def without_move(t, uidplus):
    """MOVE hidden (and UIDPLUS too, or not): COPY, \\Deleted, then UID
    EXPUNGE of our UID only, or a plain EXPUNGE that also takes what another
    client marked \\Deleted."""
    caps = ('IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ '
            'NAMESPACE CHILDREN SPECIAL-USE MULTIAPPEND' +
            (' UIDPLUS' if uidplus else ''))
    what = 'without MOVE, with UIDPLUS' if uidplus else \
        'without MOVE and UIDPLUS'
    with Harness(smtp=False, dovecot_extra='imap_capability = ' + caps) as h:
        t.harness = h
        rules = write_rules(h, RULES)
        cfg = config(h, rules, after='keep')
        h.deliver('bot', message('keep-me'), flags=('\\Deleted',))
        h.deliver('bot', message('move-me'))
        h.deliver('bot', message('delete-me'))
        cp = h.facteur('run', '--once', '-v', '-c', cfg,
                       valgrind=not uidplus)
        t.eq(cp.returncode, 0, '%s: run exits 0%s' % (
            what, '' if uidplus else ' (no leak under valgrind)'))
        plain = re.search(r'> F\d+ EXPUNGE', cp.stderr) is not None
        t.ok('UID COPY' in cp.stderr and 'UID MOVE' not in cp.stderr and
             ('UID EXPUNGE' in cp.stderr) == uidplus and plain != uidplus,
             '%s: COPY, \\Deleted, %s' % (what, 'UID EXPUNGE' if uidplus
                                            else 'EXPUNGE'),
             cp.stderr[-3000:])
        t.eq([raw for _, _, raw in h.fetch_all('bot', 'Orders/Confirmed')],
             [message('move-me')], '%s: the message reached the folder'
             % what)
        if uidplus:
            t.eq(sorted(by_subject(h.fetch_all('bot'))), ['keep-me'],
                 '%s: moved and deleted, and the message another client '
                 'marked \\Deleted is still there' % what)
        else:
            # The documented cost of a server without UIDPLUS.
            t.eq(sorted(by_subject(h.fetch_all('bot'))), [],
                 '%s: INBOX is empty: moved, deleted, and the \\Deleted '
                 'one expunged with them' % what)
        before = snapshot(h)
        cp = h.facteur('run', '--once', '-c', cfg)
        t.eq(cp.returncode, 0, '%s: second run exits 0' % what)
        t.eq(snapshot(h), before, '%s: second run changes nothing' % what)



def server_idling(h):
    """Whether Dovecot's imap process for bot is in IDLE (its process title,
    with verbose_proctitle): facteur's log shows IDLE before it is sent."""
    want = os.path.basename(h.tmp).encode()
    for p in os.listdir('/proc'):
        if not p.isdigit():
            continue
        try:
            with open('/proc/%s/cmdline' % p, 'rb') as f:
                title = f.read()
        except OSError:
            continue
        if want in title and b'[bot ' in title and b' IDLE]' in title:
            return True
    return False


def count(h, mailbox):
    try:
        return h.count('bot', mailbox)
    except HarnessError:
        return -1                   # not there (yet)


def idle_after_expunge(t, h, after, name, done):
    """In IDLE, a message taken out of the mailbox (by a move action, or by
    the after policy) must not hide the next one: the server's next EXISTS
    then carries the count the connection had before the expunge. The
    target folder does not exist at first."""
    rules = write_rules(h, 'rules:\n  - name: idle-mover\n'
                        '    if: {subject: "^idle "}\n    then:\n'
                        '      - move: "%s"\n' % done
                        if after == 'keep' else
                        'rules:\n  - name: nothing\n'
                        '    if: {subject: "^never$"}\n    then: [delete]\n',
                        name + '.rules.yaml')
    cfg = h.write_config('''state: %(tmp)s/facteur/%(name)s.db
accounts:
  - name: %(name)s
    url: imaps://127.0.0.1:%(imaps)d/Idle-%(name)s
    user: bot
    password: secret
    ca_file: %(ca)s
    watch: idle
    poll: 3600s
    after: %(after)s
    rules: [%(rules)s]
''' % dict(tmp=h.tmp, name=name, imaps=h.ports['imaps'], ca=h.ca_file,
           after=after, rules=rules), name=name + '.yaml')
    box = 'Idle-' + name
    h.create_mailbox('bot', box)
    exe = os.path.abspath(os.environ.get('FACTEUR', './facteur'))
    log = open(os.path.join(h.tmp, 'facteur', name + '.log'), 'w+')
    p = subprocess.Popen([exe, 'run', '-v', '-c', cfg], stdout=log,
                         stderr=subprocess.STDOUT, cwd=h.tmp,
                         start_new_session=True)
    h._record_pgid(p.pid)

    def idling(n):
        log.seek(0)
        return (len(re.findall(r'> F\d+ IDLE', log.read())) >= n and
                server_idling(h))
    try:
        t.ok(wait_until(lambda: idling(1), 20), '%s: daemon in IDLE' % name)
        for i in (1, 2, 3):
            h.deliver('bot', message('idle %d' % i), mailbox=box)
            t.ok(wait_until(lambda: count(h, box) == 0 and
                            count(h, done) == i, 10),
                 '%s: message %d pushed, moved out within 10 s (IDLE '
                 'refresh is 4 min)' % (name, i),
                 'left %d, done %d' % (count(h, box), count(h, done)))
            t.ok(wait_until(lambda: idling(i + 1), 10),
                 '%s: back in IDLE after message %d' % (name, i))
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            rc = p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = 'timeout'
    t.eq(rc, 0, '%s: SIGTERM ends the daemon with status 0' % name)
    if t.failed:
        log.seek(0)
        t.diag(log.read()[-3000:])
    log.close()


def main():
    t = Tap()
    with Harness(smtp=False, dovecot_extra='verbose_proctitle = yes') as h:
        t.harness = h
        t.run('move, copy, flag, delete with MOVE and UIDPLUS', with_move,
              t, h)
        t.run('a keyword that could inject IMAP syntax', bad_keywords, t, h)
        t.run('server actions on a Maildir account', maildir_account, t, h)
        t.run('move into the mailbox the message is in', same_mailbox, t, h)
        t.run('flags IMAP cannot carry', refused_by_flags, t, h)
        t.run('IDLE after a move action', idle_after_expunge, t, h, 'keep',
              'action', 'Done/action')
        t.run('IDLE after the after policy moved', idle_after_expunge, t, h,
              '{move: "Traité/policy"}', 'policy', 'Traité/policy')
    t.run('move and delete without MOVE and UIDPLUS', without_move, t,
          False)
    t.run('move and delete without MOVE, with UIDPLUS', without_move, t,
          True)
    t.run('a move waits for an action to be retried', move_waits, t)
    t.done()


if __name__ == '__main__':
    main()
