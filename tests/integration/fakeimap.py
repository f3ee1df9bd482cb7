"""A scripted IMAP server for protocol faults a real server will not produce.

It speaks just enough IMAP over implicit TLS for facteur: the greeting,
CAPABILITY, AUTHENTICATE PLAIN (with or without an initial response), LOGIN,
SELECT, UID SEARCH, UID FETCH, UID STORE, NOOP and LOGOUT. Messages live in
`server.messages` ({uid: bytes}); a UID FETCH of RFC822.SIZE answers their
lengths, or what `server.sizes` ({uid: int}) says instead. What a UID FETCH
of the bodies sends can be replaced by setting `server.on_fetch` to a
function(server, uids, tag) that returns the bytes to send and whether to
close the connection after them.

Every command line received is kept in `server.commands` (str, CRLF
stripped). Python standard library only.
"""

import socket
import ssl
import threading

CAPS = 'IMAP4rev1 AUTH=PLAIN SASL-IR UIDPLUS'


class FakeImap:
    def __init__(self, cert_file, key_file, messages=None, uidvalidity=42,
                 host='127.0.0.1', idle=False):
        self.host = host
        # With idle: IDLE is offered; on_idle(server) is called at each
        # IDLE command and returns the bytes sent before "+ idling".
        self.caps = CAPS + (' IDLE' if idle else '')
        self.on_idle = None
        self.idles = 0
        self.messages = dict(messages or {})
        self.uidvalidity = uidvalidity
        self.on_fetch = None
        self.sizes = {}
        self.commands = []
        self.connections = 0
        self.errors = []
        self._ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._ctx.load_cert_chain(cert_file, key_file)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, 0))
        self._sock.listen(8)
        self.port = self._sock.getsockname()[1]
        self._stop = False
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def url(self, mailbox='INBOX'):
        return 'imaps://%s:%d/%s' % (self.host, self.port, mailbox)

    def close(self):
        self._stop = True
        try:
            # Wake accept() up.
            socket.create_connection((self.host, self.port), timeout=1
                                     ).close()
        except OSError:
            pass
        self._sock.close()
        self._thread.join(5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    # --- the protocol -----------------------------------------------------

    def _accept(self):
        while not self._stop:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            if self._stop:
                conn.close()
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,),
                             daemon=True).start()

    def _serve(self, conn):
        try:
            conn.settimeout(30)
            tls = self._ctx.wrap_socket(conn, server_side=True)
        except (OSError, ssl.SSLError) as e:
            self.errors.append('TLS: %s' % e)
            conn.close()
            return
        try:
            self._session(tls)
        except (OSError, ssl.SSLError) as e:
            self.errors.append(str(e))
        finally:
            try:
                tls.close()
            except OSError:
                pass

    def _session(self, s):
        f = s.makefile('rb')
        s.sendall(b'* OK [CAPABILITY %s] fake server ready\r\n'
                  % self.caps.encode())
        while True:
            line = f.readline(65536)
            if not line:
                return
            text = line.rstrip(b'\r\n').decode('latin-1')
            self.commands.append(text)
            parts = text.split(' ')
            tag = parts[0].encode()
            cmd = ' '.join(parts[1:3]).upper() if len(parts) > 1 else ''
            verb = parts[1].upper() if len(parts) > 1 else ''
            if verb == 'CAPABILITY':
                s.sendall(b'* CAPABILITY %s\r\n%s OK done\r\n'
                          % (self.caps.encode(), tag))
            elif verb == 'AUTHENTICATE':
                if len(parts) < 4:
                    s.sendall(b'+ \r\n')
                    f.readline(65536)
                s.sendall(b'%s OK logged in\r\n' % tag)
            elif verb == 'LOGIN':
                s.sendall(b'%s OK logged in\r\n' % tag)
            elif verb in ('SELECT', 'EXAMINE'):
                uids = sorted(self.messages)
                s.sendall(b'* %d EXISTS\r\n* OK [UIDVALIDITY %d] ok\r\n'
                          b'* OK [UIDNEXT %d] ok\r\n'
                          b'%s OK [READ-WRITE] done\r\n'
                          % (len(uids), self.uidvalidity,
                             (uids[-1] + 1) if uids else 1, tag))
            elif cmd == 'UID SEARCH':
                lo = int(parts[4].split(':')[0])
                found = [u for u in sorted(self.messages) if u >= lo]
                s.sendall(b'* SEARCH%s\r\n%s OK done\r\n'
                          % (b''.join(b' %d' % u for u in found), tag))
            elif cmd == 'UID FETCH' and 'BODY' not in text.upper():
                uids = self._set(parts[3])
                s.sendall(b''.join(
                    b'* %d FETCH (UID %d RFC822.SIZE %d)\r\n'
                    % (sorted(self.messages).index(u) + 1, u,
                       self.sizes.get(u, len(self.messages[u])))
                    for u in uids) + b'%s OK done\r\n' % tag)
            elif cmd == 'UID FETCH':
                uids = self._set(parts[3])
                if self.on_fetch is not None:
                    data, close = self.on_fetch(self, uids, tag)
                    s.sendall(data)
                    if close:
                        return
                else:
                    s.sendall(self.fetch_response(uids, tag))
            elif verb == 'IDLE' and 'IDLE' in self.caps:
                pre = self.on_idle(self) if self.on_idle else b''
                self.idles += 1
                s.sendall(pre + b'+ idling\r\n')
                done = f.readline(65536)
                if not done:
                    return
                self.commands.append(done.rstrip(b'\r\n').decode('latin-1'))
                s.sendall(b'%s OK IDLE done\r\n' % tag)
            elif cmd == 'UID STORE' or verb == 'NOOP':
                s.sendall(b'%s OK done\r\n' % tag)
            elif verb == 'LOGOUT':
                s.sendall(b'* BYE bye\r\n%s OK done\r\n' % tag)
                return
            else:
                s.sendall(b'%s BAD unknown command\r\n' % tag)

    def _set(self, text):
        """The UIDs of a sequence set that exist here."""
        have = sorted(self.messages)
        out = []
        for part in text.split(','):
            lo, _, hi = part.partition(':')
            top = have[-1] if have else 0
            lo = top if lo == '*' else int(lo)
            hi = lo if not hi else (top if hi == '*' else int(hi))
            lo, hi = min(lo, hi), max(lo, hi)
            out += [u for u in have if lo <= u <= hi]
        return sorted(set(out))

    def fetch_item(self, uid, body=None):
        """One well-formed FETCH response for uid."""
        have = sorted(self.messages)
        data = self.messages[uid] if body is None else body
        return (b'* %d FETCH (UID %d FLAGS () BODY[] {%d}\r\n'
                % (have.index(uid) + 1, uid, len(data)) + data + b')\r\n')

    def fetch_response(self, uids, tag):
        return (b''.join(self.fetch_item(u) for u in uids) +
                b'%s OK FETCH done\r\n' % tag)
