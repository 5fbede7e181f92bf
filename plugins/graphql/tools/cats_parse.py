#!/usr/bin/env python3
"""Run the graphql-cats scenarios that exercise parsing through gqlparse.

usage: cats_parse.py GQLPARSE [SCENARIOS_DIR] [-v]

1. Scenarios whose `when` is `parse`: `passes` must parse, `syntax-error`
   must not (the parsing pass rate).
2. As a wider check, every query given to a validation or execution scenario
   must parse as a document, and every schema (inline or schema-file) as a
   type system document (gqlparse -s).
Exits 1 if anything fails.
"""
import os
import subprocess
import sys

import yaml

DEFAULT_DIR = '/work/shared/corpora/graphql-cats/scenarios'


def parse(binary, text, *flags):
    r = subprocess.run([binary, *flags], input=text.encode('utf-8'),
                       capture_output=True)
    return r.returncode == 0, r.stderr.decode('utf-8', 'replace').strip()


def main():
    args = [a for a in sys.argv[1:] if a != '-v']
    verbose = '-v' in sys.argv
    if not args:
        sys.exit(__doc__)
    binary = args[0]
    root = args[1] if len(args) > 1 else DEFAULT_DIR
    files = sorted(os.path.join(d, f) for d, _, fs in os.walk(root)
                   for f in fs if f.endswith('.yaml') and f != 'error-mapping.yaml')
    counts = {'parse': [0, 0], 'queries': [0, 0], 'schemas': [0, 0]}
    seen_schemas = set()

    def record(group, ok, what):
        counts[group][0 if ok else 1] += 1
        if not ok or verbose:
            print(('ok   ' if ok else 'FAIL ') + what)

    for path in files:
        with open(path, encoding='utf-8') as f:
            sc = yaml.safe_load(f)
        rel = os.path.relpath(path, root)
        bg = sc.get('background') or {}
        for t in sc.get('tests') or []:
            given = {**bg, **(t.get('given') or {})}
            when = t.get('when') or {}
            thens = t.get('then')
            thens = thens if isinstance(thens, list) else [thens or {}]
            query = given.get('query')
            name = f'{rel} :: {t.get("name")}'
            if 'parse' in when:
                ok, err = parse(binary, query)
                want_ok = not any('syntax-error' in a for a in thens)
                record('parse', ok == want_ok,
                       f'{name} (expected {"success" if want_ok else "syntax error"}'
                       f'{"" if ok else ", got " + err})')
                continue
            if query is not None:
                ok, err = parse(binary, query)
                record('queries', ok, f'{name} query {err}')
            schema = given.get('schema')
            if schema is None and given.get('schema-file'):
                with open(os.path.join(os.path.dirname(path),
                                       given['schema-file']), encoding='utf-8') as f:
                    schema = f.read()
            if schema is not None and schema not in seen_schemas:
                seen_schemas.add(schema)
                ok, err = parse(binary, schema, '-s')
                record('schemas', ok, f'{name} schema {err}')

    for group, (ok, bad) in counts.items():
        total = ok + bad
        rate = 100.0 * ok / total if total else 100.0
        print(f'{group}: {ok}/{total} passed ({rate:.1f}%)')
    sys.exit(1 if any(bad for _, bad in counts.values()) else 0)


if __name__ == '__main__':
    main()
