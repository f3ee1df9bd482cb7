#!/usr/bin/env python3
"""Write one large message for bench/memory.sh: a short text body and
ATTACH base64 attachments of random bytes, CRLF line ends, the whole file
SIZE bytes to within one base64 line (default 50,000,000 bytes).

Usage: mem-bigmsg.py OUT.eml [SIZE] [ATTACH]"""
import base64
import random
import sys

LINE = 76       # base64 characters per line (RFC 2045)


def main():
    if len(sys.argv) not in (2, 3, 4):
        sys.stderr.write('usage: mem-bigmsg.py OUT.eml [SIZE] [ATTACH]\n')
        sys.exit(64)
    size = int(sys.argv[2]) if len(sys.argv) > 2 else 50000000
    nattach = int(sys.argv[3]) if len(sys.argv) > 3 else 4
    rnd = random.Random(1)      # the same bytes every run
    head = ('From: Alice <alice@example.test>\r\n'
            'To: bot@example.test\r\n'
            'Subject: Quarterly data, order #4711000\r\n'
            'Date: Sun, 22 Nov 2026 10:00:00 +0000\r\n'
            'Message-ID: <big-1@example.test>\r\n'
            'MIME-Version: 1.0\r\n'
            'Content-Type: multipart/mixed; boundary="b-big"\r\n'
            '\r\n'
            '--b-big\r\n'
            'Content-Type: text/plain; charset=utf-8\r\n'
            '\r\n' +
            'The files you asked for are attached.\r\n' * 50).encode()
    parts = []
    for i in range(nattach):
        parts.append(('\r\n--b-big\r\n'
                      'Content-Type: application/octet-stream; '
                      'name="data-%d.bin"\r\n'
                      'Content-Disposition: attachment; '
                      'filename="data-%d.bin"\r\n'
                      'Content-Transfer-Encoding: base64\r\n\r\n'
                      % (i, i)).encode())
    tail = b'\r\n--b-big--\r\n'
    room = size - len(head) - sum(len(p) for p in parts) - len(tail)
    # Each attachment: lines of LINE characters + CRLF; 3 bytes -> 4 chars.
    lines = room // nattach // (LINE + 2)
    raw_len = lines * LINE // 4 * 3
    with open(sys.argv[1], 'wb') as f:
        f.write(head)
        for p in parts:
            f.write(p)
            b = base64.b64encode(rnd.randbytes(raw_len))
            f.write(b'\r\n'.join(b[j:j + LINE]
                                 for j in range(0, len(b), LINE)))
        f.write(tail)


if __name__ == '__main__':
    main()
