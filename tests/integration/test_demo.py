#!/usr/bin/env python3
"""make demo works: the orders example against the local servers, every
check of examples/demo/demo.py passing (it reads each result back)."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Tap  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))

t = Tap()
cp = subprocess.run([sys.executable, os.path.join(ROOT, 'examples', 'demo',
                                                  'demo.py')],
                    capture_output=True, text=True, timeout=300)
t.eq(cp.returncode, 0, 'the demo exits 0')
checks = [line.strip() for line in cp.stdout.splitlines()
          if line.strip().startswith('[')]
t.eq(len(checks), 10, 'the demo made its 10 checks')
for line in checks:
    t.ok(line.startswith('[ok]'), 'demo: ' + line.split('] ', 1)[-1])
if cp.returncode != 0:
    t.diag(cp.stdout[-3000:] + cp.stderr[-2000:])
t.done()
