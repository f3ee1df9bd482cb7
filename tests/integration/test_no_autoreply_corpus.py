#!/usr/bin/env python3
"""No auto-reply to what must not get one, on real-world mail. The corpus
(../shared/corpus) is classified here with Python's own email parser into
bounces, mailing-list mail, auto-submitted mail and bulk mail; all of those
go into a mailbox whose only rule auto-replies to everything, and the run
must send nothing. A control of ordinary corpus messages (the same rule, a
second mailbox) must each get one answer.

Every message gets a Return-Path so that only its class can stop the
answer (a null or MAILER-DAEMON one is kept); answers would go to alice
(classified mail) or bob (control) with a +tag per message, so `every`
never hides a wrong answer. The account lists no addresses, so "not
addressed to the account" cannot stop one either.

Without the corpus this says so in a diag line; the part on a few
classified messages from tests/fixtures runs in any case."""
import email
import email.policy
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Harness, Tap  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.environ.get('FACTEUR_CORPUS',
                        os.path.join(ROOT, '..', 'shared', 'corpus'))
FIXTURES = os.path.join(ROOT, 'tests', 'fixtures')
CONTROLS = 20

RULES = r'''rules:
  - name: everything
    then:
      - autoreply:
          body: "Received, thank you."
'''

LIST_HEADERS = ('list-id', 'list-post', 'list-unsubscribe', 'list-help',
                'list-subscribe', 'list-owner', 'list-archive')
DAEMONS = ('mailer-daemon', 'listserv', 'majordomo')


def header_text(m, name):
    v = m.get(name)
    return None if v is None else str(v).strip()


def addr_local(v):
    got = email.utils.parseaddr(v or '')[1]
    return got.split('@')[0].lower()


def tokens(v):
    return set(re.split(r'[^a-z0-9_-]+', (v or '').lower())) - {''}


def classify(raw):
    """The class that forbids an auto-reply, or None for ordinary mail,
    or 'other' for mail that is neither (left out of both sets)."""
    m = email.message_from_bytes(raw, policy=email.policy.compat32)
    rp = header_text(m, 'Return-Path')
    ct = m.get_content_type()
    frm = header_text(m, 'From')
    if (rp is not None and rp.replace(' ', '') == '<>') or \
            ct in ('multipart/report', 'message/delivery-status') or \
            addr_local(rp) in DAEMONS or addr_local(frm) in DAEMONS:
        return 'bounce'
    auto = header_text(m, 'Auto-Submitted')
    if auto is not None and auto != '' and \
            re.split(r'[\s;(]', auto, 1)[0].lower() != 'no':
        return 'auto-submitted'
    if tokens(header_text(m, 'X-Auto-Response-Suppress')) & {'all', 'oof'} \
            or m.get('X-Autoreply') is not None \
            or m.get('X-Autorespond') is not None:
        return 'auto-submitted'
    if any(m.get(h) is not None for h in LIST_HEADERS) or \
            'list' in tokens(header_text(m, 'Precedence')):
        return 'list'
    if tokens(header_text(m, 'Precedence')) & {'bulk', 'junk'}:
        return 'bulk'
    # Ordinary only when nothing else could refuse it either.
    if m.defects or m.get('Precedence') is not None or \
            any(k.lower().startswith(('list-', 'x-auto', 'x-failed')) or
                k.lower() in ('auto-submitted', 'mailing-list')
                for k in m.keys()) or \
            not frm or '@' not in frm or \
            re.search(r'(^|[<\s"])owner-|-request@', frm or '', re.I) or \
            ct.startswith('message/'):
        return 'other'
    return None


def normalise(raw):
    """CRLF lines, no mbox From_ line."""
    raw = raw.replace(b'\r\n', b'\n')
    if raw.startswith(b'From '):
        raw = raw.split(b'\n', 1)[1] if b'\n' in raw else b''
    return raw.replace(b'\n', b'\r\n')


def with_return_path(raw, addr):
    """raw with its Return-Path fields replaced by <addr>, unless the one
    it has is null or a mailer daemon's (a bounce stays a bounce)."""
    head, sep, body = raw.partition(b'\r\n\r\n')
    lines, keep, skip = [], None, False
    for ln in head.split(b'\r\n'):
        if ln[:1] not in (b' ', b'\t'):
            skip = ln.lower().startswith(b'return-path:')
            if skip and keep is None:
                v = ln[12:].strip()
                if v.replace(b' ', b'') == b'<>' or \
                        addr_local(v.decode('latin-1')) in DAEMONS:
                    keep = ln
        if not skip:
            lines.append(ln)
    rp = keep if keep is not None else b'Return-Path: <' + addr + b'>'
    return rp + b'\r\n' + b'\r\n'.join(lines) + sep + body


def config(h, name, mailbox):
    rules = os.path.join(h.tmp, 'facteur', 'rules.yaml')
    with open(rules, 'w') as f:
        f.write(RULES)
    return h.write_config('''state: %(tmp)s/facteur/%(name)s.db
smtp:
  url: smtp://127.0.0.1:%(smtp)d
  user: bot
  password: secret
  from: "Bot <bot@example.test>"
  ca_file: %(ca)s
accounts:
  - name: %(name)s
    url: imap://127.0.0.1:%(imap)d/%(mailbox)s
    user: bot
    password: secret
    ca_file: %(ca)s
    rules: [%(rules)s]
''' % dict(tmp=h.tmp, name=name, smtp=h.ports['smtp'],
           imap=h.ports['imap'], ca=h.ca_file, rules=rules,
           mailbox=mailbox), name + '.yaml')


def attempts(log):
    """Auto-replies facteur tried: sent, failed or postponed."""
    return len(re.findall(r'autoreply sent to|autoreply (failed|will '
                          r'retry)', log))


def refusals(log):
    return len(re.findall(r'autoreply not sent: ', log))


def load(directory, names):
    out = []
    for n in names:
        with open(os.path.join(directory, n), 'rb') as f:
            out.append((n, normalise(f.read())))
    return out


def check_refused(t, h, name, items, what):
    """Deliver items (already classified as refused) and run once."""
    raws = [with_return_path(raw, b'alice+%d@example.test' % i)
            for i, (_, raw) in enumerate(items)]
    h.deliver_many('bot', raws, mailbox=name)
    before = h.count('alice')
    t0 = time.monotonic()
    cp = h.facteur('run', '--once', '-c', config(h, name, name))
    t.diag('%s: %d messages refused in %.2f s (one run --once)'
           % (what, len(items), time.monotonic() - t0))
    t.eq(cp.returncode, 0, '%s: run exits 0' % what)
    t.eq(attempts(cp.stderr), 0, '%s: no auto-reply attempted for %d '
         'messages' % (what, len(items)))
    t.eq(refusals(cp.stderr), len(items), '%s: each of the %d refusals '
         'is logged with its reason' % (what, len(items)))
    t.eq(h.count('alice'), before, '%s: nothing reached the senders'
         % what)
    return cp


def main():
    t = Tap()
    with Harness() as h:
        t.harness = h

        # Fixtures: always there.
        fixtures = sorted(n for n in os.listdir(FIXTURES)
                          if n.endswith('.eml'))
        fx = [(n, raw) for n, raw in load(FIXTURES, fixtures)
              if classify(raw) not in (None, 'other')]
        t.diag('fixtures refused by class: %s' % ', '.join(
            '%s=%s' % (n, classify(raw)) for n, raw in fx))
        t.ok(len(fx) >= 4, 'the fixtures hold at least four classified '
             'messages (%d)' % len(fx))
        check_refused(t, h, 'Fixtures', fx, 'fixtures')

        if not os.path.isdir(CORPUS):
            t.diag('corpus not found at %s: corpus part skipped' % CORPUS)
            t.done()
            return
        names = sorted(n for n in os.listdir(CORPUS) if n.endswith('.eml'))
        corpus = load(CORPUS, names)
        classes = {}
        for n, raw in corpus:
            classes[n] = classify(raw)
        counts = {}
        for c in classes.values():
            counts[c] = counts.get(c, 0) + 1
        t.diag('corpus classes: %s' % ', '.join(
            '%s=%d' % (k or 'ordinary', v)
            for k, v in sorted(counts.items(), key=lambda kv: str(kv[0]))))
        refused = [(n, raw) for n, raw in corpus
                   if classes[n] not in (None, 'other')]
        for c in ('bounce', 'list', 'auto-submitted', 'bulk'):
            t.ok(counts.get(c, 0) > 0, 'the corpus has %s messages (%d)'
                 % (c, counts.get(c, 0)))
        cp = check_refused(t, h, 'Corpus', refused, 'corpus')
        if attempts(cp.stderr):
            t.diag('\n'.join(re.findall(r'.*autoreply (?:sent|failed).*',
                                        cp.stderr)[:20]))

        # Control: ordinary messages are answered, one each.
        ordinary = [(n, raw) for n, raw in corpus
                    if classes[n] is None][:CONTROLS]
        raws = [with_return_path(raw, b'bob+%d@example.test' % i)
                for i, (_, raw) in enumerate(ordinary)]
        h.deliver_many('bot', raws, mailbox='Control')
        t0 = time.monotonic()
        cp = h.facteur('run', '--once', '-c',
                       config(h, 'control', 'Control'))
        t.diag('control: %d messages answered in %.2f s (one run --once, '
               'one SMTP session each)' % (len(ordinary),
                                           time.monotonic() - t0))
        t.eq(cp.returncode, 0, 'control: run exits 0')
        sent = len(re.findall(r'autoreply sent to', cp.stderr))
        t.eq(sent, len(ordinary), 'control: each of %d ordinary messages '
             'is answered' % len(ordinary))
        if sent != len(ordinary):
            t.diag('\n'.join(re.findall(r'.*autoreply not sent.*',
                                        cp.stderr)[:20]))
        h.wait_for_messages('bob', len(ordinary))
        t.eq(h.count('bob'), len(ordinary), 'control: the answers arrived')
        t.eq(h.count('alice'), 0, 'alice (the refused mail\'s senders) '
             'got nothing in the whole test')
    t.done()


if __name__ == '__main__':
    main()
