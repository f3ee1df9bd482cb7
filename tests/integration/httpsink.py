"""A small HTTP(S) receiver for webhook tests.

    with HttpSink(h) as s:                 # plain HTTP on a free loopback port
    with HttpSink(h, tls=True) as s:       # HTTPS with the harness's server
                                           # certificate (signed by h.ca_file)
        s.url('/hook')                     # http(s)://127.0.0.1:PORT/hook
        s.script(500, 200)                 # replies in order; then 200
        s.delay = 3.0                      # seconds before each reply
        s.wait_for(2, timeout=10)          # until 2 requests arrived
        s.requests                         # [Request(method, path,
                                           #   headers, body)]

Every request is recorded (headers as a case-insensitive dict, body as
bytes) before the reply is chosen, so a request the client gave up on
(timeout) is still seen. Runs in a thread; stopped on exit of the `with`.
"""
import http.server
import ssl
import threading
import time
from collections import namedtuple
from email.message import Message

Request = namedtuple('Request', 'method path headers body')


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, fmt, *args):
        pass

    def do_POST(self):
        sink = self.server.sink
        n = int(self.headers.get('Content-Length') or 0)
        body = self.rfile.read(n) if n > 0 else b''
        headers = Message()
        for k, v in self.headers.items():
            headers[k] = v
        status, delay = sink._record(Request(self.command, self.path,
                                             headers, body))
        if delay > 0:
            time.sleep(delay)
        reply = b'{"status": %d}' % status
        try:
            self.send_response(status)
            self.send_header('Content-Type', 'application/json')
            self.send_header('Content-Length', str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)
        except OSError:
            pass    # the client gave up (a timeout test)

    do_PUT = do_POST
    do_GET = do_POST


class HttpSink:
    def __init__(self, harness, tls=False):
        self.h = harness
        self.tls = tls
        self.requests = []
        self.delay = 0.0
        self._statuses = []
        self._cond = threading.Condition()
        self._server = None
        self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    def start(self):
        srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), _Handler)
        srv.daemon_threads = True
        srv.sink = self
        if self.tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(self.h.cert_file, self.h.key_file)
            srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
        self._server = srv
        self.port = srv.server_address[1]
        self._thread = threading.Thread(target=srv.serve_forever,
                                        kwargs={'poll_interval': 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def close(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def url(self, path='/hook'):
        return '%s://127.0.0.1:%d%s' % ('https' if self.tls else 'http',
                                         self.port, path)

    def script(self, *statuses):
        """Reply with these statuses in order, then 200."""
        with self._cond:
            self._statuses = list(statuses)

    def reset(self):
        with self._cond:
            self.requests = []
            self._statuses = []
            self.delay = 0.0

    def _record(self, req):
        with self._cond:
            self.requests.append(req)
            status = self._statuses.pop(0) if self._statuses else 200
            self._cond.notify_all()
            return status, self.delay

    def wait_for(self, count, timeout=10):
        """Block until at least count requests arrived; returns them."""
        end = time.monotonic() + timeout
        with self._cond:
            while len(self.requests) < count:
                left = end - time.monotonic()
                if left <= 0:
                    raise TimeoutError('%d request(s) after %ss, wanted %d'
                                       % (len(self.requests), timeout,
                                          count))
                self._cond.wait(left)
            return list(self.requests)
