#!/usr/bin/env python3
"""The 50 reference rules of ../shared/bench/rules.tsv as a facteur rules
file, for bench/memory.sh (a stand-in until bench/tsv2rules.py exists).

Usage: mem-rules.py RULES.tsv > rules.yaml

Each row becomes a rule: `body` rows test the decoded body, every other
row a header by name (`header: {name, matches}`). Patterns are
case-insensitive ((?i)). The action is a cheap no-op (`flag` on the
server), never carried out by `facteur test`, and `stop: true` makes the
first match win, as the reference says."""
import json
import sys


def main():
    if len(sys.argv) != 2:
        sys.stderr.write('usage: mem-rules.py RULES.tsv\n')
        sys.exit(64)
    out = ['rules:']
    with open(sys.argv[1], encoding='utf-8') as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip('\n')
            if not line or line.startswith('#'):
                continue
            cols = line.split('\t')
            if len(cols) < 3:
                sys.stderr.write('%s:%d: expected id, field, pattern\n'
                                 % (sys.argv[1], n))
                sys.exit(65)
            rid, field, pat = cols[0], cols[1], '(?i)' + cols[2]
            out.append('  - name: %s' % json.dumps(rid))
            if field == 'body':
                out.append('    if: {body: %s}' % json.dumps(pat))
            else:
                out.append('    if: {header: {name: %s, matches: %s}}'
                           % (json.dumps(field), json.dumps(pat)))
            out.append('    then: [{flag: {add: ["\\\\Flagged"]}}]')
            out.append('    stop: true')
    sys.stdout.write('\n'.join(out) + '\n')


if __name__ == '__main__':
    main()
