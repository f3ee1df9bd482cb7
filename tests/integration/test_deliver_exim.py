#!/usr/bin/env python3
"""`facteur deliver` behind a real MTA: the harness's Exim routes
desk@example.test through a pipe transport (user, temp_errors,
return_path_add as in examples/mta/exim.conf) to `facteur deliver`,
which replies through Exim's submission port; everything is read back
over IMAP and from Exim's main log.

- A message sent over SMTP to desk@ reaches facteur through the pipe
  (not Dovecot) and its reply arrives in the sender's INBOX; the
  envelope sender reaches the rules as Return-Path:, and an autoreply
  goes to it, not to From:.
- Exit 75 (an action pending: the submission server is down) defers
  the message in Exim, which retries it until the server is back; the
  sender gets one reply and no bounce.
- Exit 78 (the config does not load) defers it too, with the config's
  FILE:LINE:COL in Exim's log, and the message is processed once the
  config is fixed.
- Ten messages in one SMTP session, delivered concurrently (ten deliver
  processes on one journal): ten replies, each once.
- One delivery through the pipe under valgrind: no error, no leak.
- examples/mta/exim.conf has the transport options run here, and Exim
  reads its router and transport and routes desk@ with them.

test_maildir_deliver.py runs `facteur deliver` directly (duplicates,
missing Message-ID, the journal unwritable, usage errors, size cap)."""
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Harness, HarnessError, Tap, free_ports, \
    numbered, wait_until, _valgrind_suppressions  # noqa: E402

FACTEUR = os.path.abspath(os.environ.get('FACTEUR') or './facteur')
REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))

RULES = r'''rules:
  - name: away
    if: {subject: '^away\b'}
    then:
      - autoreply: {subject: "Away", body: "Back on Monday.\n", every: 1s}
    stop: true
  - name: ping
    if: {subject: '^ping (?<n>[0-9]+)$'}
    then:
      - reply:
          subject: "pong {{n}}"
          body: "pong {{n}} for {{return_path}}\n"
'''


def config(h, smtp_port):
    return '''state: %(dir)s/state.db
smtp:
  url: smtp://127.0.0.1:%(smtp)d
  user: bot
  password: secret
  from: "Desk <bot@example.test>"
  ca_file: %(ca)s
limits:
  replies_per_sender: 1000/1h
accounts:
  - name: desk
    url: maildir:%(dir)s/desk
    addresses: [desk@example.test]
    rules: [%(tmp)s/facteur/rules.yaml]
''' % dict(dir=h.pipe_dir, smtp=smtp_port, ca=h.ca_file, tmp=h.tmp)


def put_config(h, text):
    """Replace the config at once: a deliver starting meanwhile reads the
    old file or the new, never half of one."""
    path = os.path.join(h.tmp, 'facteur', 'desk.yaml')
    with open(path + '.new', 'w') as f:
        f.write(text)
    os.rename(path + '.new', path)
    return path


def message(n, subject=None, frm='alice'):
    return ('From: %s <%s@example.test>\r\nTo: desk@example.test\r\n'
            'Subject: %s\r\nMessage-ID: <pipe-%d@example.test>\r\n\r\n'
            'ping\r\n' % (frm.capitalize(), frm, subject or 'ping %d' % n,
                          n)).encode()


def mainlog(h):
    try:
        with open(os.path.join(h.tmp, 'exim', 'mainlog'),
                  errors='replace') as f:
            return f.read()
    except OSError:
        return ''


def exim_id(h, n):
    """Exim's id of the message <pipe-N@...> (sent through Exim: facteur's
    replies carry In-Reply-To, not this Message-ID)."""
    m = re.search(r'(\S+) <= .* id=pipe-%d@example\.test' % n, mainlog(h))
    return m.group(1) if m else None


def log_lines(h, eid, mark):
    """Main log lines of an Exim message id with a mark (=>, ==, **)."""
    return [l for l in mainlog(h).splitlines()
            if eid and (' %s %s ' % (eid, mark)) in l]


def bounces(h, user):
    return [raw for _, _, raw in h.fetch_all(user)
            if re.search(rb'^From: Mail Delivery System', raw, re.M)]


def test_pipe(t, h):
    h.send_smtp('alice+env@example.test', 'desk@example.test', message(1))
    h.wait_for_messages('alice', 1, timeout=30)
    eid = exim_id(h, 1)
    t.ok(eid, 'Exim accepted <pipe-1>', mainlog(h)[-3000:])
    # The reply can be in the INBOX before facteur has exited.
    done = wait_until(lambda: log_lines(h, eid, '=>'), timeout=10)
    t.eq(len(done), 1, 'Exim delivered it once')
    t.ok(done and ' R=pipe_desk T=pipe_desk ' in done[0],
         'through the pipe router and transport', done)
    t.ok(not re.search(r' => \S+ <desk@example\.test> .*T=dovecot_lmtp',
                       mainlog(h)), 'desk@ never goes to Dovecot')
    got = h.fetch_all('alice')
    t.eq(len(got), 1, "alice's INBOX holds one message")
    raw = got[0][2]
    t.ok(re.search(rb'^Subject: pong 1\r?$', raw, re.M),
         'the reply rule answered, read back over IMAP', raw[:2000])
    t.ok(re.search(rb'^In-Reply-To: <pipe-1@example\.test>\r?$', raw, re.M),
         'the reply refers to the message', raw[:2000])
    t.ok(b'pong 1 for alice+env@example.test' in raw,
         "the envelope sender reached the rules (Exim's Return-Path:)",
         raw[-500:])
    st = os.stat(os.path.join(h.pipe_dir, 'state.db'))
    t.eq((st.st_uid, st.st_gid), (h.exim_uid, h.exim_gid),
         "the journal was made by the pipe's user")

    # autoreply answers the envelope sender: bob, not From: alice.
    h.send_smtp('bob@example.test', 'desk@example.test',
                message(2, 'away?'))
    h.wait_for_messages('bob', 1, timeout=30)
    got = h.fetch_all('bob')
    t.eq(len(got), 1, 'the autoreply reached the envelope sender')
    t.ok(got and re.search(rb'^Auto-Submitted: auto-replied\r?$', got[0][2],
                           re.M), 'it is marked auto-replied',
         got[0][2][:2000] if got else '')
    t.eq(len(h.fetch_all('alice')), 1, 'and nothing went to From:')


def deferred_then_done(t, h, n, broken, what, want_defers=2):
    """Send <pipe-N> with the config `broken`, wait until Exim has
    deferred it want_defers times, put the good config back, and check
    that it is delivered and answered once, without a bounce."""
    good = config(h, h.ports['smtp'])
    put_config(h, broken)
    before = numbered(h, 'alice', 'pong')
    h.send_smtp('alice@example.test', 'desk@example.test', message(n))
    eid = wait_until(lambda: exim_id(h, n), timeout=10)
    defers = wait_until(lambda: len(log_lines(h, eid, '==')) >=
                        want_defers and log_lines(h, eid, '=='),
                        timeout=30)
    t.ok(defers and len(defers) >= want_defers,
         '%s: Exim deferred the message, and deferred it again on its '
         'retries' % what, mainlog(h)[-3000:])
    t.eq(log_lines(h, eid, '**'), [], '%s: no bounce' % what)
    put_config(h, good)
    h.wait_for_messages('alice', len(before) + 1, timeout=30)
    t.eq(numbered(h, 'alice', 'pong'), sorted(before + [n]),
         '%s: once fixed, one reply' % what)
    done = wait_until(lambda: log_lines(h, eid, '=>'), timeout=10)
    t.eq(len(done), 1, '%s: the retry delivered it through the pipe' % what)
    return defers


def test_tempfail(t, h):
    (dead,) = free_ports(1)
    defers = deferred_then_done(t, h, 3, config(h, dead),
                                'submission server down (exit 75)')
    t.ok(defers and re.search(r'T=pipe_desk defer \(0\).*: Child process '
                              r'of pipe_desk transport returned 75 ',
                              defers[0]),
         'exit 75: Exim took it as a temporary error', defers)
    t.eq(len(bounces(h, 'alice')), 0, 'exit 75: no bounce reached alice')


def test_config_error(t, h):
    bad = config(h, h.ports['smtp']).replace('accounts:', 'acounts:')
    defers = deferred_then_done(t, h, 4, bad, 'config broken (exit 78)')
    t.ok(defers and re.search(r'T=pipe_desk defer \(0\).*: Child process '
                              r'of pipe_desk transport returned 78 ',
                              defers[0]),
         'exit 78: deferred, not bounced', defers)
    # log_defer_output: facteur's first line, in Exim's log. 'acounts:'
    # is line 10, column 1, of the config.
    eid = exim_id(h, 4)
    t.ok(re.search(r' %s <desk@example\.test>: pipe_desk transport output: '
                   r'\S*/desk\.yaml:10:1: ' % eid, mainlog(h)),
         "exit 78: the config's FILE:LINE:COL is in Exim's log",
         mainlog(h)[-3000:])
    t.eq(len(bounces(h, 'alice')), 0, 'exit 78: no bounce reached alice')


def test_burst(t, h):
    before = numbered(h, 'alice', 'pong')
    c = h.smtp('bot')
    try:
        for n in range(101, 111):
            c.sendmail('alice@example.test', ['desk@example.test'],
                       message(n))
    finally:
        c.quit()
    try:
        h.wait_for_messages('alice', len(before) + 10, timeout=60)
    except HarnessError as e:
        t.diag(str(e))
    t.eq(numbered(h, 'alice', 'pong'), sorted(before + list(range(101, 111))),
         'ten messages at once: ten replies, each once')
    eids = [exim_id(h, n) for n in range(101, 111)]
    t.eq(sum(len(log_lines(h, e, '**')) for e in eids), 0,
         'ten messages at once: no bounce')
    t.diag('deferred (journal busy) and retried: %d'
           % sum(len(log_lines(h, e, '==')) for e in eids))


def test_valgrind(t, h):
    before = numbered(h, 'alice', 'pong')
    h.send_smtp('alice@example.test', 'desk-vg@example.test', message(5))
    h.wait_for_messages('alice', len(before) + 1, timeout=120)
    t.eq(numbered(h, 'alice', 'pong'), sorted(before + [5]),
         'under valgrind: the reply arrived')
    eid = exim_id(h, 5)
    done = wait_until(lambda: log_lines(h, eid, '=>') or
                      log_lines(h, eid, '**'), timeout=60)
    t.ok(done and ' T=pipe_desk_vg ' in done[0] and ' => ' in done[0],
         'under valgrind: exit 0 (99 is an error or a definite leak)', done)
    path = os.path.join(h.pipe_dir, 'valgrind.log')
    text = open(path, errors='replace').read() if os.path.exists(path) \
        else None
    t.eq(text, '', 'under valgrind: nothing reported')


def blocks(text):
    """{name: {option: value}} of an Exim config's driver blocks, comments
    and blank lines left out."""
    out, cur = {}, None
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith('#'):
            continue
        if not line[0].isspace() and line.rstrip().endswith(':'):
            cur = out.setdefault(line.strip()[:-1], {})
        elif cur is not None and '=' in line:
            k, v = line.split('=', 1)
            cur[k.strip()] = v.strip()
    return out


def test_example(t, h):
    """examples/mta/exim.conf: the options the tests run, and a router
    that Exim reads and that sends desk@ to the pipe."""
    path = os.path.join(REPO, 'examples', 'mta', 'exim.conf')
    with open(path) as f:
        text = f.read()
    router, _, transport = text.partition('# begin transports')
    ex = blocks(transport).get('facteur_desk', {})
    with open(h.exim_conf) as f:
        conf = f.read()
    ours = blocks(conf.partition('begin transports')[2]).get('pipe_desk')
    skip = ('command', 'user')
    t.eq({k: v for k, v in ex.items() if k not in skip},
         {k: v for k, v in (ours or {}).items() if k not in skip},
         "the example's pipe transport has the options this test runs")
    t.eq(ex.get('user'), 'facteur', 'the example runs it as facteur')
    t.ok(re.search(r' deliver -c \S+ -a desk$', ex.get('command', '')),
         'the example runs facteur deliver -a desk', ex)
    # Exim reads the example's blocks in a whole config, and routes desk@
    # with them (the user exists on a real system; here Exim's stands in).
    conf = conf.replace('begin routers\n', 'begin routers\n' + router, 1)
    conf = conf.replace('begin transports\n', 'begin transports\n' +
                        transport.replace('user = facteur',
                                          'user = ' + h.exim_user), 1)
    test_conf = os.path.join(h.tmp, 'exim', 'example.conf')
    with open(test_conf, 'w') as f:
        f.write(conf)
    cp = subprocess.run([h.exim, '-C', test_conf, '-bt',
                         'desk@example.test'], capture_output=True,
                        text=True, timeout=30)
    t.eq(cp.returncode, 0, 'exim -bt with the example exits 0',)
    t.ok(re.search(r'router = facteur_desk, transport = facteur_desk',
                   cp.stdout), 'the example routes desk@ to its pipe',
         cp.stdout + cp.stderr)


def main():
    t = Tap()
    vg = ''.join(a + ' ' for a in [
        shutil.which('valgrind') or 'valgrind', '-q', '--leak-check=full',
        '--show-leak-kinds=definite', '--errors-for-leak-kinds=definite',
        '--error-exitcode=99', '--log-file={tmp}/pipe/valgrind.log'] +
        ['--suppressions=' + s for s in _valgrind_suppressions()])
    deliver = '%s deliver -c {tmp}/facteur/desk.yaml -a desk' % FACTEUR
    pipes = [{'local_part': 'desk', 'command': deliver},
             # The config from the environment this time.
             {'local_part': 'desk-vg',
              'command': vg + FACTEUR + ' deliver -a desk',
              'env': {'FACTEUR_CONFIG': '{tmp}/facteur/desk.yaml'}}]
    with Harness(exim_pipe=pipes) as h:
        t.harness = h
        with open(os.path.join(h.tmp, 'facteur', 'rules.yaml'), 'w') as f:
            f.write(RULES)
        put_config(h, config(h, h.ports['smtp']))
        t.run('pipe to facteur deliver', test_pipe, t, h)
        t.run('exit 75 defers', test_tempfail, t, h)
        t.run('exit 78 defers', test_config_error, t, h)
        t.run('ten at once', test_burst, t, h)
        t.run('valgrind', test_valgrind, t, h)
        t.run('the Exim example', test_example, t, h)
    t.done()


if __name__ == '__main__':
    main()
