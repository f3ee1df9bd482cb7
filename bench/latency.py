"""What the push-latency benchmarks share (bench/idle-latency.py,
bench/deliver-latency.py): the rule that answers, the messages it answers,
and percentiles."""

RULES = r'''rules:
  - name: ping
    if: {subject: '^ping (?<n>[0-9]+)$'}
    then:
      - reply: {subject: "pong {{n}}", body: "pong {{n}}\n"}
'''


def message(n):
    return ('From: Alice <alice@example.test>\r\nTo: bot@example.test\r\n'
            'Subject: ping %d\r\nMessage-ID: <lat-%d@example.test>\r\n\r\n'
            'ping\r\n' % (n, n)).encode()


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]
