"""Integration-test harness for facteur: real mail servers on private ports.

A Harness starts, under a fresh temp dir and on free loopback ports:

  - Dovecot 2.3: IMAP (STARTTLS offered, plain allowed), IMAPS, POP3, POP3S,
    and LMTP on a unix socket; users in a passwd-file, Maildir mail owned by
    the system user 'facteurtest' (made by tests/deps.sh; 'nobody' if absent);
  - Exim 4: SMTP with STARTTLS and SMTPS (implicit TLS), AUTH PLAIN/LOGIN
    offered only over TLS, checked against the same users; every recipient
    @example.test is delivered at once into Dovecot over LMTP; any other
    domain is refused (no relaying, no DNS).

Everything it started is stopped when the `with` block ends, at interpreter
exit, on SIGTERM/SIGINT, and (through a small watchdog process) even when
the test process is killed outright.  The temp dir is removed unless
KEEP_HARNESS=1.  See README.md beside this file.

Also here: Tap, a tiny TAP writer used by every tests/integration/test_*.py.

Python standard library only.
"""

import atexit
import base64
import imaplib
import json
import os
import poplib
import pwd
import re
import shutil
import signal
import smtplib
import socket
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import traceback

DOMAIN = 'example.test'
DEFAULT_PASSWORD = 'secret'
DEFAULT_USERS = ('bot', 'alice', 'bob')
SERVICES = ('dovecot', 'smtp')

_HERE = os.path.dirname(os.path.abspath(__file__))
_REPO = os.path.dirname(os.path.dirname(_HERE))

# Processes of live harnesses are stopped by these on the way out.
_live = set()
_live_lock = threading.RLock()
_handlers_installed = False


def _find_exe(*names):
    for n in names:
        p = shutil.which(n, path=os.environ.get('PATH', '') +
                         ':/usr/sbin:/usr/local/sbin:/sbin')
        if p:
            return p
    return None


def _first_user(*names):
    for n in names:
        try:
            return pwd.getpwnam(n)
        except KeyError:
            continue
    return None


def wait_until(fn, timeout=5.0, step=0.05):
    """Call fn until it returns something true, for at most timeout
    seconds; its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(step)
    return fn()


def action_row(state, msgid):
    """(status, attempts, last_error) of the first action, in the journal
    at state, of the message with this Message-ID."""
    db = sqlite3.connect(state)
    try:
        return db.execute(
            'SELECT a.status, a.attempts, a.last_error FROM action a '
            'JOIN message m ON a.message = m.id WHERE m.message_id = ? '
            'ORDER BY a.idx LIMIT 1', (msgid,)).fetchone()
    finally:
        db.close()


def retry_now(state, msgid):
    """Make the message's pending actions due now. The journal schedules a
    temporary failure 30 s or more ahead (src/run.c): a test moves it into
    the past instead of waiting."""
    db = sqlite3.connect(state)
    try:
        db.execute('UPDATE action SET next_attempt = 0 WHERE message IN '
                   '(SELECT id FROM message WHERE message_id = ?)',
                   (msgid,))
        db.commit()
    finally:
        db.close()


def numbered(h, user, word):
    """The sorted N of every 'Subject: WORD N' in user's INBOX (the replies
    of a ping/pong rule, say)."""
    out = []
    pat = re.compile(rb'^Subject: ' + re.escape(word.encode()) + rb' (\d+)',
                     re.M)
    for _, _, raw in h.fetch_all(user):
        m = pat.search(raw)
        if m:
            out.append(int(m.group(1)))
    return sorted(out)


def free_ports(n, host='127.0.0.1'):
    """n distinct ports that were free on host a moment ago (bind port 0)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _connectable(host, port=None, path=None, greeting=None):
    """Whether a server accepts a connection (and, if greeting is given,
    sends a first line starting with it)."""
    try:
        if path:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(2)
            s.connect(path)
        else:
            s = socket.create_connection((host, port), timeout=2)
        try:
            if greeting:
                got = b''
                while b'\n' not in got:
                    b = s.recv(512)
                    if not b:
                        break
                    got += b
                return got.startswith(greeting)
            return True
        finally:
            s.close()
    except OSError:
        return False


def imap_quote(s):
    """A mailbox name as an IMAP quoted string, modified-UTF-7 encoded."""
    s = utf7_encode(s)
    return '"' + s.replace('\\', '\\\\').replace('"', '\\"') + '"'


def utf7_encode(s):
    """RFC 3501 modified UTF-7 for mailbox names."""
    out, buf = [], []

    def flush():
        if buf:
            b = base64.b64encode(''.join(buf).encode('utf-16-be'))
            out.append('&' + b.decode().rstrip('=').replace('/', ',') + '-')
            buf.clear()
    for ch in s:
        if 0x20 <= ord(ch) <= 0x7e:
            flush()
            out.append('&-' if ch == '&' else ch)
        else:
            buf.append(ch)
    flush()
    return ''.join(out)


def utf7_decode(s):
    def dec(m):
        body = m.group(1)
        if not body:
            return '&'
        b = body.replace(',', '/')
        b += '=' * (-len(b) % 4)
        return base64.b64decode(b).decode('utf-16-be')
    return re.sub(r'&([A-Za-z0-9+,]*)-', dec, s)


def to_yaml(obj, indent=0):
    """A small YAML block emitter: dicts, lists, str, int, float, bool, None.

    Strings are written JSON-quoted, which YAML reads as double-quoted
    scalars, so no value is ever misread (yes/no, 1e3, ':' ...)."""
    pad = ' ' * indent

    def scalar(v):
        if v is None:
            return 'null'
        if v is True:
            return 'true'
        if v is False:
            return 'false'
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, dict) and not v:
            return '{}'
        if isinstance(v, (list, tuple)) and not v:
            return '[]'
        return json.dumps(str(v), ensure_ascii=False)

    def key(k):
        k = str(k)
        return k if re.fullmatch(r'[A-Za-z_][A-Za-z0-9_.-]*', k) else \
            json.dumps(k, ensure_ascii=False)

    def nested(v):
        return isinstance(v, dict) and v or isinstance(v, (list, tuple)) and v

    lines = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if nested(v):
                lines.append('%s%s:' % (pad, key(k)))
                lines.append(to_yaml(v, indent + 2))
            else:
                lines.append('%s%s: %s' % (pad, key(k), scalar(v)))
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            if nested(v):
                sub = to_yaml(v, indent + 2)
                lines.append('%s- %s' % (pad, sub[indent + 2:]))
            else:
                lines.append('%s- %s' % (pad, scalar(v)))
    else:
        lines.append(pad + scalar(obj))
    return '\n'.join(lines)


# What a ready server says first on its plain ports.
_GREETING = {'imap': b'* OK', 'pop3': b'+OK', 'smtp': b'220 '}


def _group_members(pgid):
    """Live (not zombie) processes of a process group."""
    out = []
    for p in os.listdir('/proc'):
        if not p.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % p) as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rindex(')') + 2:].split()
        if fields[0] != 'Z' and int(fields[2]) == pgid:
            out.append(int(p))
    return out


def _uid_set(text):
    """'1:3,7' -> [1, 2, 3, 7]"""
    out = []
    for part in text.split(','):
        a, _, b = part.partition(':')
        out += range(int(a), int(b or a) + 1)
    return out


class HarnessError(Exception):
    pass


class _PortInUse(HarnessError):
    pass


# --- the watchdog: cleans up if the test process dies without doing so ----

_WATCHDOG = r'''
import os, shutil, signal, sys, time
tmp, keep = sys.argv[1], sys.argv[2] == "1"
for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(s, signal.SIG_IGN)
data = b""
while True:
    try:
        b = os.read(0, 4096)
    except InterruptedError:
        continue
    except OSError:
        break
    if not b:
        break
    data += b
if data.endswith(b"done"):
    sys.exit(0)
def groups():
    try:
        with open(os.path.join(tmp, ".pgids")) as f:
            return {int(x) for x in f.read().split()}
    except OSError:
        return set()
def strays():
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open("/proc/%s/cmdline" % p, "rb") as f:
                    if tmp.encode() + b"/" in f.read():
                        out.append(int(p))
            except OSError:
                pass
    return out
for sig in (signal.SIGCONT, signal.SIGTERM):
    for g in groups():
        try: os.killpg(g, sig)
        except OSError: pass
time.sleep(1)
for g in groups():
    try: os.killpg(g, signal.SIGKILL)
    except OSError: pass
for p in strays():
    try: os.kill(p, signal.SIGKILL)
    except OSError: pass
if not keep:
    shutil.rmtree(tmp, ignore_errors=True)
'''


_PREFIX = 'facteur-h-'


def _pid_alive(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except (OSError, IndexError):
        return False


def _cmdline_has(pid, needle):
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            return needle in f.read()
    except OSError:
        return False


def _reap_stale(base):
    """Remove what a harness left behind when both its test process and
    its watchdog were killed (a job runner that kills a whole tree): its
    servers, found by their command lines naming its dir, and the dir.
    Dirs whose owner still lives, or that were kept on purpose, stay."""
    try:
        names = os.listdir(base)
    except OSError:
        return
    for name in names:
        d = os.path.join(base, name)
        if not name.startswith(_PREFIX) or os.path.exists(d + '/.keep'):
            continue
        try:
            pids = []
            for marker in ('.owner', '.watchdog'):
                with open(os.path.join(d, marker)) as f:
                    pids.append(int(f.read()))
        except (OSError, ValueError):
            continue        # being set up, or not one of ours
        if any(_pid_alive(p) for p in pids):
            continue
        needle = d.encode() + b'/'
        try:
            with open(os.path.join(d, '.pgids')) as f:
                groups = [int(x) for x in f.read().split()]
        except (OSError, ValueError):
            groups = []
        for g in groups:
            if _cmdline_has(g, needle):
                try:
                    os.killpg(g, signal.SIGKILL)
                except OSError:
                    pass
        for p in os.listdir('/proc'):
            if p.isdigit() and _cmdline_has(int(p), needle):
                try:
                    os.kill(int(p), signal.SIGKILL)
                except OSError:
                    pass
        shutil.rmtree(d, ignore_errors=True)


def _cleanup_all():
    with _live_lock:
        live = list(_live)
    for h in live:
        try:
            h.close()
        except Exception:
            pass


def _on_signal(signum, frame):
    _cleanup_all()
    prev = _prev_handlers.get(signum, signal.SIG_DFL)
    if callable(prev):
        prev(signum, frame)
    elif prev != signal.SIG_IGN:
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


_prev_handlers = {}


def _install_handlers():
    global _handlers_installed
    if _handlers_installed:
        return
    _handlers_installed = True
    atexit.register(_cleanup_all)
    if threading.current_thread() is not threading.main_thread():
        return
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        prev = signal.getsignal(s)
        if prev is signal.SIG_IGN:
            continue
        _prev_handlers[s] = prev
        signal.signal(s, _on_signal)


class Harness:
    """Dovecot + Exim on private loopback ports under a temp dir.

    Attributes: host, ports (imap, imaps, pop3, pop3s, smtp, smtps),
    ca_file, tmp, users ({name: password}), domain, lmtp_socket."""

    def __init__(self, users=None, smtp=True, require_auth=False,
                 keep=None, max_userip_connections=1000,
                 process_limit=None, client_limit=None, login_processes=None,
                 mail_user=None, dovecot_extra='', exim_pipe=None):
        """users: {name: password} or names (password 'secret'); many
        users are best given here: add_user() waits for each to log in.

        Dovecot limits, for many concurrent clients (None: Dovecot's own
        default, and nothing is written): process_limit sets
        default_process_limit (one imap process per session; Dovecot: 100)
        and client_limit default_client_limit (Dovecot: 1000; every process
        also holds a connection to the log and config services);
        login_processes=N runs imap-login and pop3-login in
        high-performance mode (service_count = 0), N processes each taking
        many clients, instead of one process per connection, which with
        TLS lives as long as the connection does.

        mail_user: the system user owning the mail (default 'facteurtest',
        else 'nobody'); inotify instances, which Dovecot takes one per
        IDLE session, are counted per user.

        dovecot_extra: lines appended to dovecot.conf (a later setting
        overrides an earlier one).

        exim_pipe: mail for some addresses handed by Exim to a command
        (an MTA's delivery agent, as `facteur deliver`) instead of
        Dovecot: a dict, or a list of them, each with
          local_part  LOCAL_PART@example.test, exactly (no +tag), goes
                      to the command, whether or not it is a user;
          command     the pipe transport's command line, expanded by Exim
                      (a literal $ is written \\$); '{tmp}' stands for
                      the harness temp dir;
          env         {name: value} added to the command's environment
                      (Exim gives it little else: PATH=/bin:/usr/bin,
                      HOME empty, SENDER, RECIPIENT, LOCAL_PART ...);
          use_shell   run the command with /bin/sh -c (default False).
        Exim runs it as its own user (h.exim_user: the harness's Exim
        drops privilege for every delivery), who owns h.pipe_dir, a
        directory for the command's files (say, facteur's journal).
        Exit status 75 (EX_TEMPFAIL) or 78 (EX_CONFIG) defers the
        message, which Exim's queue runs (every second) try again; any
        other non-zero status bounces it. Exim adds Return-Path: and puts
        an mbox "From " line before the message (its default for pipes)."""
        self.host = '127.0.0.1'
        # Lines appended to dovecot.conf (a later setting overrides).
        self.dovecot_extra = dovecot_extra
        if isinstance(exim_pipe, dict):
            exim_pipe = [exim_pipe]
        self.exim_pipe = [dict(p) for p in exim_pipe or ()]
        for p in self.exim_pipe:
            if not re.fullmatch(r'[a-z0-9][a-z0-9._+-]*',
                                p.get('local_part', '')):
                raise ValueError('exim_pipe: local_part: lower-case '
                                 'letters, digits, ._+-')
            if not p.get('command'):
                raise ValueError('exim_pipe: a command is required')
            for k, v in (p.get('env') or {}).items():
                if not re.fullmatch(r'[A-Za-z_][A-Za-z0-9_]*', k) or \
                        re.search(r'[;\n]', str(v)):
                    raise ValueError('exim_pipe: env %s: a name, and a '
                                     'value without ; or a line break' % k)
        if len({self._pipe_name(p) for p in self.exim_pipe}) < \
                len(self.exim_pipe):
            raise ValueError('exim_pipe: two local parts give one router '
                             'name (%s)' % ', '.join(
                                 p['local_part'] for p in self.exim_pipe))
        self.pipe_dir = None
        self.domain = DOMAIN
        if users is None:
            users = {u: DEFAULT_PASSWORD for u in DEFAULT_USERS}
        elif not isinstance(users, dict):
            users = {u: DEFAULT_PASSWORD for u in users}
        self.users = dict(users)
        self.want_smtp = smtp
        self.require_auth = require_auth
        self.max_userip_connections = max_userip_connections
        self.process_limit = process_limit
        self.client_limit = client_limit
        self.login_processes = login_processes
        self.keep = (os.environ.get('KEEP_HARNESS') == '1'
                     if keep is None else keep)
        self.tmp = None
        self.ports = {}
        self.ca_file = None
        self.lmtp_socket = None
        self._procs = {}
        self._paused = set()
        self._watchdog = None
        self._closed = False
        self._said_kept = False
        self.dovecot = _find_exe('dovecot')
        self.exim = _find_exe('exim4', 'exim')
        self.openssl = _find_exe('openssl')
        owner = _first_user(*((mail_user,) if mail_user else
                              ('facteurtest', 'nobody')))
        if owner is None:
            raise HarnessError("no user %s: run tests/deps.sh"
                               % (mail_user or "'facteurtest' or 'nobody'"))
        self.mail_uid, self.mail_gid = owner.pw_uid, owner.pw_gid
        ex = _first_user('Debian-exim', 'exim', 'mail')
        self.exim_user = ex.pw_name if ex else None
        self.exim_uid = ex.pw_uid if ex else None
        self.exim_gid = ex.pw_gid if ex else None

    # --- lifecycle --------------------------------------------------------

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def start(self):
        missing = [n for n, p in (('dovecot', self.dovecot),
                                  ('openssl', self.openssl)) if not p]
        if self.want_smtp and not self.exim:
            missing.append('exim4')
        if missing:
            raise HarnessError('not installed: %s (run tests/deps.sh)'
                               % ' '.join(missing))
        if os.geteuid() != 0:
            raise HarnessError('the harness must run as root '
                               '(Dovecot and Exim switch users)')
        _install_handlers()
        base = os.environ.get('FACTEUR_HARNESS_DIR') or tempfile.gettempdir()
        if len(base) > 40:      # unix socket paths are short
            base = '/tmp'
        _reap_stale(base)
        self.tmp = tempfile.mkdtemp(prefix=_PREFIX, dir=base)
        os.chmod(self.tmp, 0o755)
        self._mark('.owner', os.getpid())
        if self.keep:
            self._mark('.keep', os.getpid())
        with _live_lock:
            _live.add(self)
        try:
            self._start_watchdog()
            self._make_tls()
            for d in ('dovecot', 'mail', 'exim', 'facteur'):
                os.mkdir(os.path.join(self.tmp, d))
            os.chown(os.path.join(self.tmp, 'mail'),
                     self.mail_uid, self.mail_gid)
            os.chmod(os.path.join(self.tmp, 'mail'), 0o700)
            if self.exim_uid is not None:
                os.chown(os.path.join(self.tmp, 'exim'),
                         self.exim_uid, self.exim_gid)
            if self.exim_pipe:
                self.pipe_dir = os.path.join(self.tmp, 'pipe')
                os.mkdir(self.pipe_dir)
                os.chown(self.pipe_dir, self.exim_uid or 0,
                         self.exim_gid or 0)
            self._write_users()
            for attempt in range(4):
                self._pick_ports()
                try:
                    self._write_dovecot_conf()
                    if self.want_smtp:
                        self._write_exim_conf()
                    self.start_dovecot(wait=False)
                    if self.want_smtp:
                        self.start_smtp(wait=False)
                    self._wait_dovecot()
                    if self.want_smtp:
                        self._wait_smtp()
                    break
                except _PortInUse:
                    self._stop_all()
                    if attempt == 3:
                        raise
                    # Start the next try with empty logs.
                    for rel in ('dovecot/dovecot.log', 'exim/mainlog',
                                'exim/paniclog'):
                        try:
                            os.unlink(os.path.join(self.tmp, rel))
                        except OSError:
                            pass
        except BaseException:
            self.close()
            raise
        return self

    def close(self):
        """Stop every server; remove the temp dir unless kept.

        Safe to call again, and from a signal handler that interrupts a
        close already under way: every step can be repeated."""
        if self._closed:
            return
        with _live_lock:
            _live.discard(self)
        try:
            self._stop_all()
            self._kill_strays()
        finally:
            if self.tmp and os.path.isdir(self.tmp):
                if self.keep:
                    if not self._said_kept:
                        self._said_kept = True
                        sys.stdout.write('# harness temp dir kept: %s\n'
                                         % self.tmp)
                        sys.stdout.flush()
                else:
                    shutil.rmtree(self.tmp, ignore_errors=True)
            w, self._watchdog = self._watchdog, None
            if w:
                try:
                    os.write(self._watchdog_fd, b'done')
                    os.close(self._watchdog_fd)
                except OSError:
                    pass
                try:
                    w.wait(5)
                except subprocess.TimeoutExpired:
                    w.kill()
            self._closed = True

    def _start_watchdog(self):
        r, w = os.pipe()
        try:
            self._watchdog = subprocess.Popen(
                [sys.executable, '-c', _WATCHDOG, self.tmp,
                 '1' if self.keep else '0'],
                stdin=r, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, start_new_session=True,
                close_fds=True)
        finally:
            os.close(r)
        self._watchdog_fd = w
        self._mark('.watchdog', self._watchdog.pid)

    def _mark(self, name, pid):
        with open(os.path.join(self.tmp, name), 'w') as f:
            f.write('%d\n' % pid)

    def _record_pgid(self, pgid):
        with open(os.path.join(self.tmp, '.pgids'), 'a') as f:
            f.write('%d\n' % pgid)

    def _stop_all(self):
        for name in list(self._procs):
            self._stop(name)

    def _kill_strays(self):
        """Processes that name our temp dir on their command line (Exim
        re-executes itself with -C TMP/exim/exim.conf)."""
        if not self.tmp:
            return
        needle = self.tmp.encode() + b'/'
        for p in os.listdir('/proc'):
            if not p.isdigit() or int(p) == os.getpid():
                continue
            try:
                with open('/proc/%s/cmdline' % p, 'rb') as f:
                    if needle in f.read():
                        os.kill(int(p), signal.SIGKILL)
            except OSError:
                pass

    def pids(self):
        """pids of every live process started for this harness."""
        out = []
        groups = {p.pid for p in self._procs.values()}
        needle = (self.tmp or '\0').encode() + b'/'
        for p in os.listdir('/proc'):
            if not p.isdigit():
                continue
            try:
                with open('/proc/%s/stat' % p) as f:
                    st = f.read()
                fields = st[st.rindex(')') + 2:].split()
                state, pgid = fields[0], int(fields[2])
                if state == 'Z':
                    continue
                if pgid in groups:
                    out.append(int(p))
                    continue
                with open('/proc/%s/cmdline' % p, 'rb') as f:
                    if needle in f.read():
                        out.append(int(p))
            except (OSError, ValueError):
                pass
        return out

    # --- TLS --------------------------------------------------------------

    def _openssl(self, *args):
        r = subprocess.run([self.openssl] + list(args), cwd=self.tls_dir,
                           stdin=subprocess.DEVNULL, capture_output=True)
        if r.returncode != 0:
            raise HarnessError('openssl %s: %s' % (
                ' '.join(args), r.stderr.decode(errors='replace')))

    def _make_tls(self):
        """A throwaway CA and a server cert for localhost/127.0.0.1 (EC
        P-256: generating them takes milliseconds)."""
        self.tls_dir = os.path.join(self.tmp, 'tls')
        os.mkdir(self.tls_dir)
        with open(os.path.join(self.tls_dir, 'server.ext'), 'w') as f:
            f.write('basicConstraints = critical, CA:FALSE\n'
                    'keyUsage = critical, digitalSignature, '
                    'keyEncipherment\n'
                    'extendedKeyUsage = serverAuth\n'
                    'subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1\n'
                    'subjectKeyIdentifier = hash\n'
                    'authorityKeyIdentifier = keyid\n')
        ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
              '-nodes']
        self._openssl('req', '-x509', *ec, '-keyout', 'ca.key',
                      '-out', 'ca.crt', '-days', '7',
                      '-subj', '/CN=facteur test CA',
                      '-addext', 'basicConstraints=critical,CA:TRUE',
                      '-addext', 'keyUsage=critical,keyCertSign,cRLSign')
        self._openssl('req', '-new', *ec, '-keyout', 'server.key',
                      '-out', 'server.csr', '-subj', '/CN=localhost')
        self._openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt',
                      '-CAkey', 'ca.key', '-set_serial',
                      str(int.from_bytes(os.urandom(8), 'big')),
                      '-days', '7', '-extfile', 'server.ext',
                      '-out', 'server.crt')
        # A throwaway key: the unprivileged Exim must read it.
        os.chmod(os.path.join(self.tls_dir, 'server.key'), 0o644)
        self.ca_file = os.path.join(self.tls_dir, 'ca.crt')
        self.cert_file = os.path.join(self.tls_dir, 'server.crt')
        self.key_file = os.path.join(self.tls_dir, 'server.key')

    def ssl_context(self, verify=True):
        """A client context trusting only the harness CA."""
        ctx = ssl.create_default_context(cafile=self.ca_file)
        if not verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx

    # --- users ------------------------------------------------------------

    def _write_users(self):
        """Dovecot's passwd-file and Exim's lsearch file, rewritten whole
        (then renamed in) so a server never reads half a file."""
        home = os.path.join(self.tmp, 'mail')
        dv, ex = [], []
        for name, pw in self.users.items():
            dv.append('%s:{PLAIN}%s:%d:%d::%s/%s::\n'
                      % (name, pw, self.mail_uid, self.mail_gid, home, name))
            ex.append('%s: %s\n' % (name, pw))
            ex.append('%s@%s: %s\n' % (name, self.domain, pw))
        # Dovecot's auth process reads its file as user 'dovecot'.
        dv_gid = _first_user('dovecot')
        dv_gid = dv_gid.pw_gid if dv_gid else 0
        for path, lines, uid, gid in (
                (os.path.join(self.tmp, 'dovecot', 'passwd'), dv, 0, dv_gid),
                (os.path.join(self.tmp, 'exim', 'passwd'), ex,
                 self.exim_uid or 0, self.exim_gid or 0)):
            part = path + '.new'
            with open(part, 'w') as f:
                f.writelines(lines)
            os.chmod(part, 0o640)
            os.chown(part, uid, gid)
            # Dovecot notices a change by mtime and size (seconds): make
            # every version's mtime differ.
            self._users_mtime = max(int(time.time()),
                                    getattr(self, '_users_mtime', 0) + 1)
            os.utime(part, (self._users_mtime, self._users_mtime))
            os.rename(part, path)

    def add_user(self, name, password=DEFAULT_PASSWORD):
        """Add (or change the password of) a user; both servers see it at
        once.  Address: name@example.test."""
        if not re.fullmatch(r'[a-z0-9][a-z0-9._+-]*', name):
            raise ValueError('user name: lower-case letters, digits, ._+-')
        if not password or re.search(r'[:\s]', password):
            raise ValueError('password: no colon, no white space')
        self.users[name] = password
        self._write_users()
        self._wait_login(name, password)

    def _wait_login(self, name, password, timeout=5):
        """Dovecot re-reads its passwd-file at most once a second: wait
        until the new password works over IMAP."""
        if 'dovecot' not in self._procs:
            return
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.imap(name, password, tls=None).logout()
                return
            except imaplib.IMAP4.error:
                if time.monotonic() > deadline:
                    raise HarnessError('Dovecot does not accept the new '
                                       'user %s' % name)
                time.sleep(0.05)

    def address(self, user):
        return '%s@%s' % (user, self.domain)

    def password(self, user):
        return self.users[user]

    # --- ports and configs ------------------------------------------------

    def _pick_ports(self):
        names = ['imap', 'imaps', 'pop3', 'pop3s']
        if self.want_smtp:
            names += ['smtp', 'smtps']
        self.ports = dict(zip(names, free_ports(len(names), self.host)))

    def _write_dovecot_conf(self):
        d = os.path.join(self.tmp, 'dovecot')
        self.lmtp_socket = os.path.join(d, 'run', 'lmtp')
        conf = DOVECOT_CONF.format(
            d=d, tmp=self.tmp, host=self.host, p=self.ports,
            instance=os.path.basename(self.tmp),
            cert=self.cert_file, key=self.key_file,
            uid=self.mail_uid, gid=self.mail_gid,
            min_uid=min(self.mail_uid, 500), domain=self.domain,
            max_userip=self.max_userip_connections)
        conf += self._dovecot_limits()
        if self.dovecot_extra:
            conf += '\n# dovecot_extra\n' + self.dovecot_extra + '\n'
        self.dovecot_conf = os.path.join(d, 'dovecot.conf')
        with open(self.dovecot_conf, 'w') as f:
            f.write(conf)

    def _dovecot_limits(self):
        """Settings for many concurrent clients; '' by default."""
        out = []
        if self.process_limit is not None:
            out.append('default_process_limit = %d\n' % self.process_limit)
        if self.client_limit is not None:
            out.append('default_client_limit = %d\n' % self.client_limit)
        if self.login_processes is not None:
            for svc in ('imap-login', 'pop3-login'):
                out.append('service %s {\n  service_count = 0\n'
                           '  process_min_avail = %d\n'
                           '  process_limit = %d\n}\n'
                           % (svc, self.login_processes,
                              self.login_processes))
        return ''.join(out)

    def _write_exim_conf(self):
        d = os.path.join(self.tmp, 'exim')
        conf = EXIM_CONF.format(
            d=d, host=self.host, p=self.ports, domain=self.domain,
            cert=self.cert_file, key=self.key_file,
            lmtp=self.lmtp_socket, exim_user=self.exim_user,
            exim=self.exim,
            require_auth=('  require authenticated = *\n'
                          '          message = authentication required\n'
                          if self.require_auth else ''),
            pipe_routers=self._exim_pipe_routers(),
            pipe_transports=self._exim_pipe_transports())
        self.exim_conf = os.path.join(d, 'exim.conf')
        with open(self.exim_conf, 'w') as f:
            f.write(conf)

    @staticmethod
    def _pipe_name(p):
        return 'pipe_' + re.sub(r'[^a-z0-9]', '_', p['local_part'])

    def _exim_pipe_routers(self):
        """One router per exim_pipe entry, before the users' (so an
        address that is also a user goes to the pipe)."""
        return ''.join(
            '%s:\n'
            '  driver = accept\n'
            '  domains = +local_domains\n'
            '  local_parts = %s\n'
            '  transport = %s\n\n'
            % (self._pipe_name(p), p['local_part'], self._pipe_name(p))
            for p in self.exim_pipe)

    def _exim_pipe_transports(self):
        """The pipe transports: run as Exim's user; 75 and 78 defer (a
        pending action, a config being fixed), anything else non-zero
        bounces; Return-Path: added (the envelope sender, which facteur's
        autoreply answers and its `sender` condition reads); the first
        line of what the command printed goes to the main log when it
        defers or fails."""
        out = []
        for p in self.exim_pipe:
            t = ('%s:\n'
                 '  driver = pipe\n'
                 '  command = %s\n'
                 '  user = %s\n'
                 '  temp_errors = 75:78\n'
                 '  return_path_add = true\n'
                 '  log_defer_output = true\n'
                 '  log_fail_output = true\n'
                 % (self._pipe_name(p),
                    p['command'].replace('{tmp}', self.tmp),
                    self.exim_user))
            if p.get('use_shell'):
                t += '  use_shell = true\n'
            env = p.get('env') or {}
            if env:
                t += '  environment = <; %s\n' % ' ; '.join(
                    '%s=%s' % (k, str(v).replace('{tmp}', self.tmp))
                    for k, v in env.items())
            out.append(t + '\n')
        return ''.join(out)

    # --- starting and stopping servers -----------------------------------

    def _spawn(self, name, argv, out):
        f = open(out, 'ab')
        try:
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=f,
                                 stderr=subprocess.STDOUT,
                                 start_new_session=True, close_fds=True,
                                 cwd=self.tmp)
        finally:
            f.close()
        self._procs[name] = p
        self._record_pgid(p.pid)
        return p

    def _stop(self, name):
        p = self._procs.pop(name, None)
        if p is None:
            return
        self._paused.discard(name)
        for sig in (signal.SIGCONT, signal.SIGTERM):
            try:
                os.killpg(p.pid, sig)
            except OSError:
                pass
        try:
            p.wait(3)
        except subprocess.TimeoutExpired:
            pass
        # Children that outlive the master (Exim's SMTP sessions and
        # deliveries, a stopped login process): no mercy, they are ours.
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            p.wait(2)
        except subprocess.TimeoutExpired:
            pass
        deadline = time.monotonic() + 1
        while time.monotonic() < deadline and _group_members(p.pid):
            time.sleep(0.01)

    def start_dovecot(self, wait=True):
        if 'dovecot' in self._procs:
            return
        self._spawn('dovecot', [self.dovecot, '-F', '-c', self.dovecot_conf],
                    os.path.join(self.tmp, 'dovecot', 'stderr.log'))
        if wait:
            self._wait_dovecot()

    def stop_dovecot(self):
        self._stop('dovecot')

    def start_smtp(self, wait=True):
        if 'smtp' in self._procs or not self.want_smtp:
            return
        # -bdf: daemon in the foreground (we keep its pid); -q1s: a queue
        # run every second retries deferred deliveries (say, while Dovecot
        # was stopped) as soon as the retry rule allows.
        self._spawn('smtp', [self.exim, '-C', self.exim_conf, '-bdf',
                             '-q1s', '-oX',
                             '%d:%d' % (self.ports['smtp'],
                                        self.ports['smtps']),
                             '-oP', os.path.join(self.tmp, 'exim',
                                                 'exim.pid')],
                    os.path.join(self.tmp, 'exim', 'stderr.log'))
        if wait:
            self._wait_smtp()

    def stop_smtp(self):
        self._stop('smtp')

    def _service(self, service):
        s = {'imap': 'dovecot', 'imaps': 'dovecot', 'pop3': 'dovecot',
             'pop3s': 'dovecot', 'lmtp': 'dovecot', 'dovecot': 'dovecot',
             'smtp': 'smtp', 'smtps': 'smtp', 'exim': 'smtp'}.get(service)
        if s is None:
            raise ValueError('unknown service %r' % service)
        return s

    def pause(self, service):
        """SIGSTOP a server's whole process group: connections are still
        accepted by the kernel but nothing answers."""
        s = self._service(service)
        os.killpg(self._procs[s].pid, signal.SIGSTOP)
        self._paused.add(s)

    def resume(self, service):
        s = self._service(service)
        os.killpg(self._procs[s].pid, signal.SIGCONT)
        self._paused.discard(s)

    def _wait_ports(self, service, names, path=None, timeout=10):
        p = self._procs[service]
        deadline = time.monotonic() + timeout
        todo = list(names)
        while True:
            if p.poll() is not None:
                break
            todo = [n for n in todo
                    if not _connectable(self.host, self.ports[n],
                                        greeting=_GREETING.get(n))]
            if not todo and (path is None or
                             _connectable(None, path=path,
                                          greeting=b'220 ')):
                return
            if time.monotonic() > deadline:
                break
            time.sleep(0.01)
        text = self.log(service)
        if 'in use' in text:
            raise _PortInUse('%s: a port was taken; log:\n%s'
                             % (service, text[-2000:]))
        raise HarnessError('%s did not start (exit status %s); log:\n%s'
                           % (service, p.poll(), text[-4000:]))

    def _wait_dovecot(self):
        self._wait_ports('dovecot', ['imap', 'imaps', 'pop3', 'pop3s'],
                         path=self.lmtp_socket)

    def _wait_smtp(self):
        self._wait_ports('smtp', ['smtp', 'smtps'])

    # --- logs -------------------------------------------------------------

    def log(self, service):
        """A server's log text: 'dovecot' or 'smtp' (Exim's main, reject
        and panic logs and its stderr)."""
        s = self._service(service)
        if s == 'dovecot':
            files = ['dovecot/dovecot.log', 'dovecot/stderr.log']
        else:
            files = ['exim/mainlog', 'exim/rejectlog', 'exim/paniclog',
                     'exim/stderr.log']
        out = []
        for rel in files:
            try:
                with open(os.path.join(self.tmp, rel), 'rb') as f:
                    t = f.read().decode('utf-8', 'replace')
            except OSError:
                continue
            if t and len(files) > 1 and not rel.endswith('dovecot.log') \
                    and not rel.endswith('mainlog'):
                t = '--- %s\n%s' % (rel, t)
            out.append(t)
        return ''.join(out)

    def smtp_failures(self):
        """Exim mainlog lines of failed (**) or deferred (==) deliveries."""
        return [l for l in self.log('smtp').splitlines()
                if re.search(r' (\*\*|==) ', l)]

    def dump_logs(self, lines=40, out=None):
        """Print the tail of every server log as TAP comments."""
        out = out or sys.stdout
        if not self.tmp:
            return
        for s in SERVICES:
            if s == 'smtp' and not self.want_smtp:
                continue
            text = self.log(s).splitlines()[-lines:]
            out.write('# --- %s log (last %d lines)\n' % (s, len(text)))
            for l in text:
                out.write('#   %s\n' % l)
        out.flush()

    # --- IMAP -------------------------------------------------------------

    def imap(self, user, password=None, tls='starttls'):
        """A logged-in imaplib client.  tls: 'starttls', 'ssl' or None."""
        if tls == 'ssl':
            c = imaplib.IMAP4_SSL(self.host, self.ports['imaps'],
                                  ssl_context=self.ssl_context(),
                                  timeout=30)
        else:
            c = imaplib.IMAP4(self.host, self.ports['imap'], timeout=30)
        try:
            if tls == 'starttls':
                c.starttls(self.ssl_context())
            c.login(user, password or self.users[user])
        except BaseException:
            c.shutdown()
            raise
        return c

    @staticmethod
    def _ok(typ, data, what):
        if typ != 'OK':
            raise HarnessError('%s: %s %r' % (what, typ, data))
        return data

    def deliver(self, user, raw, mailbox='INBOX', flags=()):
        """Put one message (bytes) into a user's mailbox by IMAP APPEND
        (the mailbox is created if missing); returns its UID.  Use CRLF
        line ends for byte-exact read-back."""
        return self.deliver_many(user, [raw], mailbox, flags)[0]

    def deliver_many(self, user, raws, mailbox='INBOX', flags=()):
        """APPEND many messages over one connection with MULTIAPPEND and
        LITERAL+ (1,000 messages take about 0.1 s); returns their UIDs in
        order."""
        box = imap_quote(mailbox).encode()
        fl = ('(%s) ' % ' '.join(flags)).encode() if flags else b''
        s = socket.create_connection((self.host, self.ports['imap']),
                                     timeout=60)
        reader = s.makefile('rb')
        uids = []

        def line():
            l = reader.readline(1 << 20)
            if not l:
                raise HarnessError('IMAP APPEND: connection closed')
            return l

        def tagged(tag):
            while True:
                l = line()
                if l.startswith(tag + b' '):
                    if not l.startswith(tag + b' OK'):
                        raise HarnessError('IMAP %s' % l.decode(
                            errors='replace').strip())
                    return l
        try:
            line()
            pw = self.users[user]
            s.sendall(b'L LOGIN ' + imap_quote(user).encode() + b' ' +
                      b'"' + pw.encode().replace(b'\\', b'\\\\')
                      .replace(b'"', b'\\"') + b'"\r\n')
            tagged(b'L')
            if mailbox.upper() != 'INBOX':
                # Create it if missing (NO [ALREADYEXISTS] is fine).
                s.sendall(b'C CREATE ' + box + b'\r\n')
                while not line().startswith(b'C '):
                    pass
            # MULTIAPPEND (RFC 3502): one command, one transaction per
            # batch; Dovecot then stores 1,000 messages in ~0.1 s where
            # one APPEND each takes ~2 ms apiece.
            batch = 500
            for n, start in enumerate(range(0, len(raws), batch)):
                tag = b'A%d' % n
                buf = [tag, b' APPEND ', box]
                for raw in raws[start:start + batch]:
                    if isinstance(raw, str):
                        raw = raw.encode()
                    buf.append(b' %s{%d+}\r\n' % (fl, len(raw)))
                    buf.append(raw)
                buf.append(b'\r\n')
                s.sendall(b''.join(buf))
                l = tagged(tag)
                m = re.search(rb'\[APPENDUID \d+ ([0-9:,]+)\]', l)
                want = len(raws[start:start + batch])
                got = _uid_set(m.group(1).decode()) if m else []
                uids += got if len(got) == want else [None] * want
            s.sendall(b'Z LOGOUT\r\n')
        finally:
            reader.close()
            s.close()
        return uids

    def count(self, user, mailbox='INBOX'):
        c = self.imap(user, tls=None)
        try:
            return self._status_messages(c, mailbox)
        finally:
            c.logout()

    @staticmethod
    def _status_messages(c, mailbox):
        data = Harness._ok(*c.status(imap_quote(mailbox), '(MESSAGES)'),
                           'STATUS %s' % mailbox)
        m = re.search(rb'MESSAGES (\d+)', data[0])
        return int(m.group(1))

    def wait_for_messages(self, user, count, mailbox='INBOX', timeout=10):
        """Poll until the mailbox holds at least count messages; returns
        how many it holds.  On timeout raises HarnessError with the Exim
        deliveries that failed or were deferred."""
        deadline = time.monotonic() + timeout
        c = self.imap(user, tls=None)
        try:
            while True:
                try:
                    n = self._status_messages(c, mailbox)
                except HarnessError:
                    n = 0       # mailbox not created yet
                if n >= count:
                    return n
                if time.monotonic() > deadline:
                    fails = self.smtp_failures() if self.want_smtp else []
                    raise HarnessError(
                        '%s/%s: %d message(s) after %ss, wanted %d%s' % (
                            user, mailbox, n, timeout, count,
                            ''.join('\n  ' + f for f in fails[-10:])))
                time.sleep(0.05)
        finally:
            try:
                c.logout()
            except Exception:
                pass

    def fetch_all(self, user, mailbox='INBOX'):
        """[(uid, flags, raw_bytes)] of every message, in UID order, read
        with BODY.PEEK (flags are left alone)."""
        c = self.imap(user, tls=None)
        try:
            data = self._ok(*c.select(imap_quote(mailbox), readonly=True),
                            'EXAMINE %s' % mailbox)
            if int(data[0] or 0) == 0:
                return []
            data = self._ok(*c.uid('FETCH', '1:*',
                                   '(UID FLAGS BODY.PEEK[])'),
                            'UID FETCH')
            out = []
            for item in data:
                if not isinstance(item, tuple):
                    continue
                head, body = item
                uid = re.search(rb'UID (\d+)', head)
                flags = re.search(rb'FLAGS \(([^)]*)\)', head)
                if not uid:
                    continue
                # \Recent is a property of this session, not of the mail.
                fl = flags.group(1).decode().split() if flags else []
                out.append((int(uid.group(1)),
                            tuple(f for f in fl if f != '\\Recent'),
                            body))
            out.sort(key=lambda m: m[0])
            return out
        finally:
            c.logout()

    def mailboxes(self, user):
        """Every mailbox name of the user (decoded), INBOX included."""
        c = self.imap(user, tls=None)
        try:
            data = self._ok(*c.list('""', '*'), 'LIST')
            out = []
            for item in data:
                if isinstance(item, tuple):     # name sent as a literal
                    out.append(utf7_decode(item[1].decode()))
                    continue
                if not item:
                    continue
                m = re.match(rb'\((.*?)\) (?:"(?:\\.|[^"])*"|NIL) (.*)$',
                             item)
                name = m.group(2).decode()
                if name.startswith('"'):
                    name = re.sub(r'\\(.)', r'\1', name[1:-1])
                out.append(utf7_decode(name))
            return out
        finally:
            c.logout()

    def create_mailbox(self, user, name):
        c = self.imap(user, tls=None)
        try:
            self._ok(*c.create(imap_quote(name)), 'CREATE %s' % name)
        finally:
            c.logout()

    def delete_mailbox(self, user, name):
        c = self.imap(user, tls=None)
        try:
            self._ok(*c.delete(imap_quote(name)), 'DELETE %s' % name)
        finally:
            c.logout()

    # --- POP3, SMTP -------------------------------------------------------

    def pop3(self, user, password=None, tls='starttls'):
        """A logged-in poplib client.  tls: 'starttls' (STLS), 'ssl', None."""
        if tls == 'ssl':
            c = poplib.POP3_SSL(self.host, self.ports['pop3s'],
                                context=self.ssl_context(), timeout=30)
        else:
            c = poplib.POP3(self.host, self.ports['pop3'], timeout=30)
        try:
            if tls == 'starttls':
                c.stls(self.ssl_context())
            c.user(user)
            c.pass_(password or self.users[user])
        except BaseException:
            c.close()
            raise
        return c

    def smtp(self, user='bot', password=None, tls='starttls'):
        """An smtplib client that said EHLO, did TLS and logged in
        (user=None: no AUTH).  tls: 'starttls', 'ssl' or None."""
        if tls == 'ssl':
            c = smtplib.SMTP_SSL(self.host, self.ports['smtps'],
                                 context=self.ssl_context(), timeout=30)
        else:
            c = smtplib.SMTP(self.host, self.ports['smtp'], timeout=30)
        try:
            c.ehlo('client.example.test')
            if tls == 'starttls':
                c.starttls(context=self.ssl_context())
                c.ehlo('client.example.test')
            if user:
                c.login(user, password or self.users[user])
        except BaseException:
            c.close()
            raise
        return c

    def send_smtp(self, mail_from, rcpts, raw, user='bot', password=None,
                  tls='starttls'):
        """Submit raw bytes through Exim as a real client would (STARTTLS,
        AUTH).  Returns smtplib's dict of refused recipients; raises on a
        refused sender, all recipients refused, or refused data."""
        if isinstance(rcpts, str):
            rcpts = [rcpts]
        if isinstance(raw, str):
            raw = raw.encode()
        c = self.smtp(user, password, tls)
        try:
            return c.sendmail(mail_from, list(rcpts), raw)
        finally:
            try:
                c.quit()
            except Exception:
                c.close()

    def url(self, proto, user=None, mailbox=None):
        """A URL for a facteur config: url('imaps', 'bob', 'INBOX')."""
        u = '%s://%s:%d' % (proto, self.host, self.ports[proto])
        if mailbox:
            u += '/' + mailbox
        return u

    # --- facteur ----------------------------------------------------------

    def write_config(self, cfg, name='facteur.yaml'):
        """Write a facteur config (a dict, emitted as YAML, or text) under
        tmp/facteur/; returns its path."""
        path = os.path.join(self.tmp, 'facteur', name)
        text = cfg if isinstance(cfg, str) else to_yaml(cfg) + '\n'
        with open(path, 'w') as f:
            f.write(text)
        return path

    def facteur(self, *args, input=None, timeout=60, valgrind=None,
                env=None, cwd=None, binary=None):
        """Run $FACTEUR (default ./facteur) with args; returns a
        CompletedProcess with str stdout/stderr.  Under valgrind (argument
        or FACTEUR_VALGRIND=1) a definite leak or memory error makes the
        exit status 99 and cp.valgrind holds valgrind's report.  On
        timeout the whole process group is killed and TimeoutExpired is
        raised."""
        exe = binary or os.environ.get('FACTEUR') or './facteur'
        exe = os.path.abspath(exe) if os.sep in exe else exe
        if valgrind is None:
            valgrind = os.environ.get('FACTEUR_VALGRIND') == '1'
        argv = [exe] + [str(a) for a in args]
        vlog = None
        if valgrind:
            vlog = os.path.join(self.tmp, 'facteur',
                                'valgrind.%d.log' % time.monotonic_ns())
            argv = ['valgrind', '-q', '--leak-check=full',
                    '--show-leak-kinds=definite',
                    '--errors-for-leak-kinds=definite',
                    '--error-exitcode=99', '--log-file=' + vlog] + \
                ['--suppressions=' + s for s in _valgrind_suppressions()] + \
                argv
            timeout *= 10
        e = dict(os.environ)
        e.update(env or {})
        if isinstance(input, str):
            input = input.encode()
        p = subprocess.Popen(argv, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=e, cwd=cwd or self.tmp,
                             start_new_session=True)
        self._record_pgid(p.pid)
        try:
            out, err = p.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass
            out, err = p.communicate()
            raise subprocess.TimeoutExpired(argv, timeout, out, err)
        finally:
            try:        # children it left behind (run actions)
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass
        cp = subprocess.CompletedProcess(
            argv, p.returncode, out.decode('utf-8', 'replace'),
            err.decode('utf-8', 'replace'))
        cp.valgrind = ''
        if vlog and os.path.exists(vlog):
            with open(vlog, errors='replace') as f:
                cp.valgrind = f.read()
        return cp


def _valgrind_suppressions():
    out = []
    extra = os.environ.get('FACTEUR_VALGRIND_SUPP')
    if extra:
        out += [s for s in extra.split(':') if s]
    default = os.path.join(_REPO, 'tests', 'valgrind.supp')
    if os.path.exists(default):
        out.append(default)
    return out


DOVECOT_CONF = '''\
# Generated by tests/integration/harness.py
base_dir = {d}/run
state_dir = {d}/state
instance_name = {instance}
log_path = {d}/dovecot.log
log_timestamp = "%Y-%m-%d %H:%M:%S "
protocols = imap pop3 lmtp
listen = {host}
shutdown_clients = yes
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = {min_uid}
last_valid_uid = 0
first_valid_gid = 1

ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_username_format = %Ln
auth_failure_delay = 0
auth_cache_size = 0
auth_verbose = yes

passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%n {d}/passwd
}}
userdb {{
  driver = passwd-file
  args = username_format=%n {d}/passwd
}}

mail_location = maildir:~/Maildir
mail_fsync = never
mail_max_userip_connections = {max_userip}
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Drafts {{
    special_use = \\Drafts
    auto = subscribe
  }}
  mailbox Junk {{
    special_use = \\Junk
    auto = subscribe
  }}
  mailbox Sent {{
    special_use = \\Sent
    auto = subscribe
  }}
  mailbox Trash {{
    special_use = \\Trash
    auto = subscribe
  }}
  mailbox Archive {{
    special_use = \\Archive
    auto = subscribe
  }}
}}
postmaster_address = postmaster@{domain}
recipient_delimiter = +
lmtp_save_to_detail_mailbox = no
protocol lmtp {{
  auth_username_format = %Ln
}}
protocol imap {{
  mail_max_userip_connections = {max_userip}
}}

service imap-login {{
  inet_listener imap {{
    address = {host}
    port = {p[imap]}
  }}
  inet_listener imaps {{
    address = {host}
    port = {p[imaps]}
    ssl = yes
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    address = {host}
    port = {p[pop3]}
  }}
  inet_listener pop3s {{
    address = {host}
    port = {p[pop3s]}
    ssl = yes
  }}
}}
service lmtp {{
  unix_listener lmtp {{
    mode = 0666
  }}
}}
# No growing delay after failed logins (tests fail logins on purpose).
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
'''

EXIM_CONF = '''\
# Generated by tests/integration/harness.py
exim_path = {exim}
primary_hostname = localhost
qualify_domain = {domain}
domainlist local_domains = {domain}
local_interfaces = <; {host}
tls_on_connect_ports = {p[smtps]}
spool_directory = {d}/spool
log_file_path = {d}/%slog
log_selector = +smtp_protocol_error +smtp_syntax_error +tls_cipher \\
  +received_recipients +deliver_time +smtp_confirmation +subject \\
  +return_path_on_delivery +smtp_connection +smtp_incomplete_transaction \\
  +incoming_port +smtp_no_mail -queue_run
keep_environment =
never_users = root
# A port taken by someone else: fail at once (the harness picks others).
daemon_startup_retries = 0
daemon_startup_sleep = 0s

# No DNS, no ident: everything is on loopback.
host_lookup =
rfc1413_hosts =
rfc1413_query_timeout = 0s
helo_try_verify_hosts =

# Deliver at once, every message, however many come in one connection.
queue_only = false
smtp_accept_queue_per_connection = 0
smtp_accept_max = 500
smtp_accept_max_per_host = 0
smtp_accept_max_per_connection = 0
smtp_return_error_details = true
message_size_limit = 64M
check_spool_space = 0
check_log_space = 0
deliver_drop_privilege = true
ignore_bounce_errors_after = 0s
timeout_frozen_after = 1h

tls_advertise_hosts = *
tls_certificate = {cert}
tls_privatekey = {key}

acl_smtp_rcpt = acl_rcpt
acl_smtp_data = acl_data

begin acl

acl_rcpt:
  deny    local_parts = ^[.] : ^.*[@%!/|]
          message = restricted characters in address
  require domains = +local_domains
          message = relay not permitted
{require_auth}\
  require verify = recipient
  accept

acl_data:
  accept

begin routers

{pipe_routers}\
dovecot_users:
  driver = accept
  domains = +local_domains
  local_parts = lsearch;{d}/passwd
  local_part_suffix = +*
  local_part_suffix_optional
  transport = dovecot_lmtp

begin transports

{pipe_transports}\
dovecot_lmtp:
  driver = lmtp
  socket = {lmtp}
  batch_max = 200
  rcpt_include_affixes = true
  user = {exim_user}

begin retry

*  *  F,1h,1s

begin authenticators

plain:
  driver = plaintext
  public_name = PLAIN
  server_prompts = :
  server_advertise_condition = ${{if def:tls_in_cipher}}
  server_condition = ${{if and {{{{!eq{{$auth2}}{{}}}} {{!eq{{$auth3}}{{}}}} \\
    {{eq{{$auth3}}{{${{lookup{{$auth2}}lsearch{{{d}/passwd}}}}}}}}}}}}
  server_set_id = $auth2

login:
  driver = plaintext
  public_name = LOGIN
  server_prompts = Username:: : Password::
  server_advertise_condition = ${{if def:tls_in_cipher}}
  server_condition = ${{if and {{{{!eq{{$auth1}}{{}}}} {{!eq{{$auth2}}{{}}}} \\
    {{eq{{$auth2}}{{${{lookup{{$auth1}}lsearch{{{d}/passwd}}}}}}}}}}}}
  server_set_id = $auth1
'''


class Tap:
    """TAP output: t.ok(cond, desc), t.eq(got, want, desc), t.done().

    Each line is flushed at once, so a crash still leaves what ran."""

    def __init__(self, harness=None):
        self.passed = 0
        self.failed = 0
        self.harness = harness

    def _line(self, s):
        sys.stdout.write(s + '\n')
        sys.stdout.flush()

    def diag(self, msg):
        for l in str(msg).splitlines() or ['']:
            self._line('# ' + l)

    def ok(self, cond, desc, diag=''):
        desc = ' '.join(str(desc).split())
        if cond:
            self.passed += 1
            self._line('ok - ' + desc)
        else:
            self.failed += 1
            self._line('not ok - ' + desc)
            if diag:
                self.diag(diag)
        return bool(cond)

    def eq(self, got, want, desc):
        def short(v):
            r = repr(v)
            return r if len(r) < 2000 else r[:2000] + '...'
        return self.ok(got == want, desc,
                       'got:  %s\nwant: %s' % (short(got), short(want)))

    def skip(self, desc, reason):
        self.passed += 1
        self._line('ok - %s # SKIP %s' % (desc, reason))

    def run(self, desc, fn, *args, **kw):
        """Run fn; an exception becomes 'not ok - desc' with its traceback
        and (if the Tap has a harness) the server logs.  Returns fn's
        value, or None if it raised."""
        try:
            return fn(*args, **kw)
        except Exception as e:
            self.ok(False, '%s (%s: %s)' % (desc, type(e).__name__,
                                            str(e).splitlines()[0]
                                            if str(e) else ''))
            self.diag(traceback.format_exc().rstrip())
            if self.harness is not None:
                self.harness.dump_logs()
            return None

    def test(self, desc):
        """Decorator: run the function now, as t.run(desc, fn)."""
        def deco(fn):
            self.run(desc, fn)
            return fn
        return deco

    def done(self):
        """Print the plan and a summary; exit 1 if anything failed (or if
        nothing ran at all)."""
        if self.passed + self.failed == 0:
            self.ok(False, 'no test ran')
        self._line('1..%d' % (self.passed + self.failed))
        self._line('# %d passed, %d failed' % (self.passed, self.failed))
        sys.exit(1 if self.failed else 0)
