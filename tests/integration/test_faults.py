#!/usr/bin/env python3
"""Faults against the journal's promise. A mailbox of corpus messages (made
to come from alice, each with its own Message-ID) is worked by `facteur run`
(the daemon) with reply actions while the test kills it with SIGKILL at
random moments and restarts it, stops and starts Exim and Dovecot, and makes
the journal unwritable for a while (chattr +i on the SQLite files: root
ignores permission bits, not the immutable flag).

Afterwards: every message is in the journal with every action done; nothing
is pending or stuck; `facteur state failed` explains every failure; no
original got two replies with different Message-IDs; a reply sent twice
(the kill landed between the SMTP server's acceptance and the journal's
commit) carries the same derived Message-ID, and such resends are counted
and bounded by the number of kills plus the journal writes refused.

Then the group commit of the journal: messages that match no rule are
journaled many to a transaction, so a SIGKILL right after (or during) a
pass over them may lose their records; they must then be processed again
with the same result: each in the journal once, every reply sent once.

Short run (make test): >= 50 kills, well under 3 minutes. Long run:
`make soak`, or FACTEUR_SOAK=1, or --soak. FACTEUR_FAULT_SEED=N replays a
run; the seed is printed."""
import email
import email.policy
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Harness, Tap, wait_until  # noqa: E402
from httpsink import HttpSink  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, '..', '..', '..', 'shared', 'corpus')
SOAK = '--soak' in sys.argv or os.environ.get('FACTEUR_SOAK') == '1'
MESSAGES = 1000 if SOAK else 150
KILLS = 400 if SOAK else 50
SMTP_PASSWORD = 'Fz4-soak-Pw-88'

# The actions each message gets: one line each. run and webhook are left
# out until those actions exist in this tree; uncomment to add them.
ACTIONS = [
    '      - reply: {body: "Received, thank you."}',
    '      - run: {argv: [/usr/bin/touch, "%(ran)s/{{message_id}}"]}',
    '      - webhook: {url: "http://127.0.0.1:%(hook)d/hook"}',
]

DROP = re.compile(rb'^(from|reply-to|sender|to|cc|bcc|message-id|'
                  rb'return-path|auto-submitted|precedence|list-[a-z-]+|'
                  rb'x-auto-response-suppress|in-reply-to|references|'
                  rb'delivered-to|resent-[a-z-]+)\s*:', re.I)


def rewrite(raw, n):
    """The message from alice to the bot, its own Message-ID, the rest of
    its headers and its body as they were."""
    raw = raw.replace(b'\0', b'').replace(b'\r\n', b'\n')
    head, sep, body = raw.partition(b'\n\n')
    if not sep:
        head, body = raw, b''
    keep, skip = [], False
    for line in head.split(b'\n'):
        if line[:1] in (b' ', b'\t'):
            if not skip:
                keep.append(line)
            continue
        skip = bool(DROP.match(line)) or b':' not in line
        if not skip:
            keep.append(line)
    if not any(l.lower().startswith(b'subject:') for l in keep):
        keep.append(b'Subject: message %d' % n)
    new = [b'From: Alice <alice@example.test>', b'To: bot@example.test',
           b'Message-ID: <fault-%d@example.test>' % n] + keep
    return (b'\n'.join(new) + b'\n\n' + body).replace(b'\n', b'\r\n')


def corpus(rng, count):
    """count messages from the corpus (seeded pick), or made up."""
    names = []
    index = os.path.join(CORPUS, '_INDEX.tsv')
    if os.path.exists(index):
        with open(index) as f:
            for row in f.read().splitlines()[1:]:
                cols = row.split('\t')
                if len(cols) > 6 and int(cols[6]) < 100000:
                    names.append(cols[0])
    names.sort()
    rng.shuffle(names)
    out = []
    for i in range(count):
        if names:
            with open(os.path.join(CORPUS, names[i % len(names)]),
                      'rb') as f:
                raw = f.read()
        else:
            raw = (b'Subject: made-up %d\n\nLine one.\nLine %d.\n' % (i, i))
        out.append(rewrite(raw, i))
    return out


class Daemon:
    """facteur run in the background; stderr appended to one log."""

    def __init__(self, h, cfg, log):
        exe = os.path.abspath(os.environ.get('FACTEUR') or './facteur')
        self.p = subprocess.Popen([exe, 'run', '-c', cfg], cwd=h.tmp,
                                  stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=log,
                                  start_new_session=True)
        h._record_pgid(self.p.pid)

    def kill(self):
        """SIGKILL; its exit status (negative: the signal)."""
        if self.p.poll() is None:
            try:
                os.killpg(self.p.pid, signal.SIGKILL)
            except OSError:
                pass
        return self.p.wait(30)


def immutable(paths, on):
    for p in paths:
        if os.path.exists(p):
            subprocess.run(['chattr', '+i' if on else '-i', p], check=True)



def config(h, md, hook, ran):
    rules = os.path.join(h.tmp, 'facteur', 'rules.yaml')
    with open(rules, 'w') as f:
        f.write('rules:\n  - name: answer\n'
                "    if: {from: '^alice@example\\.test$'}\n    then:\n" +
                '\n'.join(ACTIONS) % {'hook': hook, 'ran': ran} + '\n')
    return h.write_config('''state: %(tmp)s/facteur/st/state.db
smtp:
  url: smtp://127.0.0.1:%(smtp)d
  user: fbot
  password: {env: FAULT_SMTP_PW}
  from: "Bot <bot@example.test>"
  ca_file: %(ca)s
  timeout: 10s
accounts:
  - name: faults
    url: imap://127.0.0.1:%(imap)d/INBOX
    user: bot
    password: secret
    ca_file: %(ca)s
    poll: 2s
    rules: [%(rules)s]
  - name: mta
    url: maildir:%(md)s
    poll: 1h
    rules: [%(rules)s]
''' % dict(tmp=h.tmp, smtp=h.ports['smtp'], imap=h.ports['imap'],
           ca=h.ca_file, rules=rules, md=md))


def run_faults(h, cfg, rng, msgs, dbfiles, log, ro_delivers, odd):
    """KILLS daemon runs, each SIGKILLed after a random time, with the
    servers and the journal taken away and given back on the way. Most of
    the mail is there at the start; the rest comes two by two between
    restarts, so every fault meets fresh work."""
    fed = MESSAGES - 2 * KILLS
    h.deliver_many('bot', msgs[:fed])
    dovecot_up = True
    kills = exits = 0
    for k in range(KILLS):
        phase = k % 50
        if phase == 10:
            h.stop_smtp()
        elif phase == 16:
            h.start_smtp()
        elif phase == 22:
            h.stop_dovecot()
            dovecot_up = False
        elif phase == 26:
            h.start_dovecot()
            dovecot_up = True
        elif phase == 32:
            immutable(dbfiles, True)
        elif phase == 36:
            # A delivery while the journal cannot be written: refused
            # for a retry (75), with the reason, nothing lost.
            cp = h.facteur('deliver', '-c', cfg, '-a', 'mta',
                           input=rewrite(b'Subject: ro\n\nx\n',
                                         100000 + k))
            ro_delivers.append(cp)
        elif phase == 38:
            immutable(dbfiles, False)
        if dovecot_up and fed < MESSAGES:
            n = 2 * (k + 1) - (fed - (MESSAGES - 2 * KILLS))
            h.deliver_many('bot', msgs[fed:fed + n])
            fed += n
        d = Daemon(h, cfg, log)
        time.sleep(rng.uniform(0.05, 0.8))
        rc = d.kill()
        if rc == -signal.SIGKILL:
            kills += 1
        else:
            exits += 1
            if rc not in (0, 74, 75):
                odd.append(rc)
    h.start_smtp()
    h.start_dovecot()
    h.deliver_many('bot', msgs[fed:])
    return kills, exits


def quiet_msg(i, answer):
    subject = ('answer quiet %d' if answer else 'quiet %d') % i
    return ('From: Alice <alice@example.test>\r\nTo: bot@example.test\r\n'
            'Message-ID: <quiet-%d@example.test>\r\nSubject: %s\r\n\r\n'
            'Line one of %d.\r\n' % (i, subject, i)).encode()


def quiet_batch(first, count):
    """Messages first.. first+count-1: every 40th (from the 7th) asks for a
    reply; the others match no rule."""
    return [quiet_msg(i, i % 40 == 7) for i in range(first, first + count)]


def group_kills(t, h):
    """SIGKILLs of the daemon right after and in the middle of passes over
    messages that match no rule (journaled in groups), then a clean run:
    each message once in the journal, done; each reply sent once."""
    rules = os.path.join(h.tmp, 'facteur', 'quiet-rules.yaml')
    with open(rules, 'w') as f:
        f.write("rules:\n  - name: answer\n    if: {subject: '^answer "
                "quiet'}\n    then:\n      - reply: {body: \"Noted.\"}\n")
    cfg = h.write_config('''state: %(tmp)s/facteur/quiet/state.db
smtp:
  url: smtp://127.0.0.1:%(smtp)d
  user: fbot
  password: {env: FAULT_SMTP_PW}
  from: "Bot <bot@example.test>"
  ca_file: %(ca)s
accounts:
  - name: quiet
    url: imap://127.0.0.1:%(imap)d/Quiet
    user: bot
    password: secret
    ca_file: %(ca)s
    poll: 2s
    rules: [%(rules)s]
''' % dict(tmp=h.tmp, smtp=h.ports['smtp'], imap=h.ports['imap'],
           ca=h.ca_file, rules=rules), 'quiet.yaml')
    db = os.path.join(h.tmp, 'facteur', 'quiet', 'state.db')
    logpath = os.path.join(h.tmp, 'facteur', 'quiet.log')
    log = open(logpath, 'ab')

    def journaled():
        if not os.path.exists(db):
            return 0
        c = sqlite3.connect(db)
        try:
            return c.execute('SELECT count(*) FROM message').fetchone()[0]
        except sqlite3.Error:
            return 0
        finally:
            c.close()

    def logged(uid):
        with open(logpath, errors='replace') as f:
            return ': Quiet: uid %d: ' % uid in f.read()

    # Three rounds: 200 messages, killed after the line of the last one;
    # 300 more, killed when half of them are logged; 100 more, after the
    # last. Then 20 more and a clean run, under valgrind.
    rounds = ((200, 200), (300, 150), (100, 100))
    total = 0
    for count, kill_at in rounds:
        h.deliver_many('bot', quiet_batch(total, count), mailbox='Quiet')
        d = Daemon(h, cfg, log)
        seen = wait_until(lambda: logged(total + kill_at), 60, step=0.005)
        rc = d.kill()
        t.ok(seen and rc == -signal.SIGKILL, 'quiet: SIGKILL after %d of '
             '%d messages were logged' % (kill_at, count))
        total += count
        t.diag('quiet: %d of %d messages in the journal after the kill'
               % (journaled(), total))
    h.deliver_many('bot', quiet_batch(total, 20), mailbox='Quiet')
    total += 20
    log.close()
    cp = h.facteur('run', '--once', '-c', cfg, valgrind=True, timeout=120)
    t.ok(cp.returncode == 0, 'quiet: the clean run after the kills exits 0 '
         '(valgrind: no leak, no error)', cp.stderr[-2000:] + cp.valgrind)
    rows = json.loads(h.facteur('state', '-c', cfg, '--json', 'list',
                                '--account', 'quiet', '--limit',
                                '100000').stdout)['messages']
    t.eq(sorted(r['message_id'] for r in rows),
         sorted('quiet-%d@example.test' % i for i in range(total)),
         'quiet: every message in the journal once (%d)' % total)
    t.eq([r['message_id'] for r in rows if r['status'] != 'done'], [],
         'quiet: every one done')
    answers = ['<quiet-%d@example.test>' % i for i in range(total)
               if i % 40 == 7]

    def replies():
        got = {}
        for _, _, raw in h.fetch_all('alice'):
            m = email.message_from_bytes(raw, policy=email.policy.compat32)
            if (m['In-Reply-To'] or '').startswith('<quiet-'):
                got.setdefault(m['In-Reply-To'], []).append(m['Message-ID'])
        return got
    got = wait_until(lambda: (lambda g: g if len(g) >= len(answers) else
                              None)(replies()), 30, step=0.2) or replies()
    t.eq(sorted(got), sorted(answers), 'quiet: a reply to each message '
         'that asked, none to the others (%d)' % len(answers))
    t.eq({k: v for k, v in got.items() if len(v) > 1}, {},
         'quiet: no reply sent twice')
    sent = sum(len(v) for v in got.values())
    t.diag('quiet: %d replies for %d messages' % (sent, total))
    seen_kills(t, h)


def seen_kills(t, h):
    """after: seen changes the server: the journal's group is committed
    first, so a message flagged \\Seen is in the journal, whenever the
    SIGKILL lands."""
    cfg = h.write_config('''state: %(tmp)s/facteur/seen/state.db
accounts:
  - name: seen
    url: imap://127.0.0.1:%(imap)d/Seen
    user: bot
    password: secret
    ca_file: %(ca)s
    after: seen
    poll: 2s
    rules: []
''' % dict(tmp=h.tmp, imap=h.ports['imap'], ca=h.ca_file), 'seen.yaml')
    db = os.path.join(h.tmp, 'facteur', 'seen', 'state.db')
    logpath = os.path.join(h.tmp, 'facteur', 'seen.log')
    log = open(logpath, 'ab')

    def logged(uid):
        with open(logpath, errors='replace') as f:
            return ': Seen: uid %d: ' % uid in f.read()
    total = 0
    for count in (150, 150):
        h.deliver_many('bot', quiet_batch(10000 + total, count),
                       mailbox='Seen')
        d = Daemon(h, cfg, log)
        seen = wait_until(lambda: logged(total + count // 2), 60,
                          step=0.005)
        rc = d.kill()
        total += count
        flagged = set(uid for uid, flags, _ in h.fetch_all('bot', 'Seen')
                      if '\\Seen' in flags)
        c = sqlite3.connect(db)
        try:
            keys = set(int(k.split('/')[1]) for (k,) in
                       c.execute('SELECT key FROM message'))
        finally:
            c.close()
        t.ok(seen and rc == -signal.SIGKILL and flagged,
             'seen: SIGKILL in a pass, %d messages flagged' % len(flagged))
        t.eq(sorted(flagged - keys), [], 'seen: every message flagged '
             '\\Seen is in the journal (%d of %d journaled)'
             % (len(keys), total))
    log.close()


def main():
    seed = int(os.environ.get('FACTEUR_FAULT_SEED') or
               random.SystemRandom().randrange(1 << 31))
    rng = random.Random(seed)
    t = Tap()
    t.diag('seed %d (FACTEUR_FAULT_SEED=%d replays it); %d messages, '
           '%d kills%s' % (seed, seed, MESSAGES, KILLS,
                           ', soak' if SOAK else ''))
    os.environ['FAULT_SMTP_PW'] = SMTP_PASSWORD
    with Harness() as h, HttpSink(h) as sink:
        t.harness = h
        h.add_user('fbot', SMTP_PASSWORD)
        ran = os.path.join(h.tmp, 'facteur', 'ran')
        os.makedirs(ran)
        md = os.path.join(h.tmp, 'facteur', 'md')
        for sub in ('new', 'cur', 'tmp'):
            os.makedirs(os.path.join(md, sub), exist_ok=True)
        cfg = config(h, md, sink.port, ran)
        db = os.path.join(h.tmp, 'facteur', 'st', 'state.db')
        # The directory too: no new -wal or -journal file either.
        dbfiles = [db, db + '-wal', db + '-shm', os.path.dirname(db)]
        msgs = corpus(rng, MESSAGES)
        logpath = os.path.join(h.tmp, 'facteur', 'faults.log')
        log = open(logpath, 'ab')
        started = time.monotonic()
        ro_delivers = []
        odd = []
        try:
            kills, exits = run_faults(h, cfg, rng, msgs, dbfiles, log,
                                      ro_delivers, odd)
        finally:
            immutable(dbfiles, False)   # or the harness cannot clean up
            h.start_smtp()
            h.start_dovecot()
        t.eq(h.count('bot'), MESSAGES, 'the mailbox holds %d messages'
             % MESSAGES)
        t.ok(kills >= min(50, KILLS) * 0.9,
             '%d SIGKILLs landed (%d runs ended before)' % (kills, exits))
        t.eq(odd, [], 'no run ended with an unexpected status')
        t.ok(ro_delivers and all(cp.returncode == 75 for cp in
                                 ro_delivers),
             'deliver with the journal unwritable: 75 (the MTA retries)',
             '\n'.join(cp.stderr for cp in ro_delivers))
        t.ok(ro_delivers and all(re.search(
            r'state .*state\.db.*: (.*(not permitted|readonly|I/O|'
            r'unable to open|disk).*)', cp.stderr) for cp in ro_delivers),
            'the refusal names the journal and the reason',
            '\n'.join(cp.stderr for cp in ro_delivers))

        # Drain: failures explained, then what waits for its backoff is
        # made due, and one daemon finishes the work.
        failed = json.loads(h.facteur('state', '-c', cfg, '--json',
                                      'failed').stdout)['actions']
        t.ok(all(a['last_error'] for a in failed),
             'state failed explains every failure (%d)' % len(failed),
             failed)
        for a in failed:
            t.diag('failed: #%d %s: %s' % (a['id'], a['type'],
                                           a['last_error']))
        h.facteur('state', '-c', cfg, 'retry', '--all')
        d = Daemon(h, cfg, log)

        def finished():
            out = h.facteur('state', '-c', cfg, '--json', 'list',
                            '--account', 'faults', '--limit', '100000')
            rows = json.loads(out.stdout or '{"messages": []}')['messages']
            return (len(rows) == MESSAGES and
                    all(r['status'] == 'done' for r in rows))
        done = wait_until(finished, 120 if not SOAK else 600, step=0.2)
        d.p.send_signal(signal.SIGTERM)
        t.eq(d.p.wait(60), 0, 'the last daemon stops on SIGTERM with 0')
        log.close()
        t.ok(done, 'every message is in the journal, every action done')
        rows = json.loads(h.facteur('state', '-c', cfg, '--json', 'list',
                                    '--account', 'faults', '--limit',
                                    '100000').stdout)['messages']
        t.eq(sorted(r['message_id'] for r in rows),
             sorted('fault-%d@example.test' % i for i in range(MESSAGES)),
             'one journal entry per message, none twice')
        pend = json.loads(h.facteur('state', '-c', cfg, '--json', 'pending',
                                    '--account', 'faults').stdout)['actions']
        t.eq(pend, [], 'nothing pending, nothing stuck')

        t.ok(wait_until(lambda: h.count('alice') >= MESSAGES, 60, step=0.2),
             'the replies arrived')
        by_orig = {}
        for _, _, raw in h.fetch_all('alice'):
            m = email.message_from_bytes(raw, policy=email.policy.compat32)
            by_orig.setdefault(m['In-Reply-To'], []).append(
                m['Message-ID'])
        missing = [i for i in range(MESSAGES)
                   if '<fault-%d@example.test>' % i not in by_orig]
        t.eq(missing, [], 'every message got a reply')
        differ = {k: v for k, v in by_orig.items() if len(set(v)) > 1}
        t.eq(differ, {}, 'no message got two different replies')
        dups = sum(len(v) - 1 for v in by_orig.values())
        with open(logpath, errors='replace') as f:
            text = f.read()
        refused = len(re.findall(r'save action status', text))
        ro = re.findall(r'state \S+/st/state\.db: [a-z ]+: attempt to write '
                        r'a readonly database', text)
        t.ok(len(ro) > 0, 'the daemon names the journal and the reason when '
             'it cannot write it (%d times)' % len(ro))
        t.diag('resends (same Message-ID): %d, after %d kills and %d '
               'refused journal writes; %.0f s' %
               (dups, kills, refused, time.monotonic() - started))
        t.ok(dups <= kills + refused, 'resends are bounded by the kills '
             'and refused journal writes (%d <= %d + %d)'
             % (dups, kills, refused))
        want = set('fault-%d@example.test' % i for i in range(MESSAGES))
        t.eq(sorted(want - set(os.listdir(ran))), [],
             'the run action ran for every message')
        posted = set()
        for r in sink.requests:
            try:
                posted.add(json.loads(r.body)['message_id'])
            except (ValueError, KeyError, TypeError):
                pass
        t.eq(sorted(want - posted), [],
             'the webhook was called for every message (%d requests)'
             % len(sink.requests))
        t.ok(not re.search(r'\bsecret\b', text) and
             SMTP_PASSWORD not in text, 'no password in the logs')
        t.ok('AddressSanitizer' not in text and 'Assertion' not in text,
             'no crash report in the logs')
        group_kills(t, h)
    t.done()


if __name__ == '__main__':
    main()
