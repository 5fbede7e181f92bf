#!/usr/bin/python3
"""Run the graphql-cats validation scenarios through gqlvalidate --batch.

    cats_validate.py GQLVALIDATE GRAPHQL-CATS-DIR [-v] [--strict-messages]

Each test names the rules to run (`when: validate: [...]`); its `then`
assertions are checked as /work/shared/conformance/cats-driver.mjs checks
graphql-js: `passes`, `error-count`, `error-code` (the message from
error-mapping.yaml, compared after the driver's normalisation unless
--strict-messages) with `loc`, and `error` (a substring).

The scenario schemas apply harness directives (@enumInt, @resolveString...)
without declaring them, which graphql-js accepts with assumeValidSDL; our
builder is strict, so declarations for them are added (arguments of a
scalar that takes anything).
"""
import json
import os
import re
import subprocess
import sys

import yaml


class Validator:
    def __init__(self, binary):
        self.p = subprocess.Popen([binary, "--batch"], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE)
        self.schema = None

    def ask(self, head, body):
        data = body.encode()
        self.p.stdin.write(b"%s %d\n" % (head.encode(), len(data)) + data)
        self.p.stdin.flush()
        return json.loads(self.p.stdout.readline())

    def use_schema(self, sdl):
        if sdl != self.schema:
            self.schema = sdl
            self.schema_result = self.ask("schema", declare_harness(sdl))
        return self.schema_result


BUILTIN_DIRECTIVES = {"include", "skip", "deprecated", "specifiedBy"}


def declare_harness(sdl):
    defined = set(re.findall(r"directive\s+@(\w+)", sdl))
    used = {}
    for m in re.finditer(r"@(\w+)(\s*\(([^)]*)\))?", sdl):
        name = m.group(1)
        if name in defined or name in BUILTIN_DIRECTIVES:
            continue
        args = used.setdefault(name, set())
        if m.group(3):
            args.update(re.findall(r"(\w+)\s*:", m.group(3)))
    if not used:
        return sdl
    extra = ["scalar CatsHarnessAny"]
    for name, args in sorted(used.items()):
        a = "(%s)" % ", ".join("%s: CatsHarnessAny" % x for x in sorted(args)) if args else ""
        extra.append("directive @%s%s repeatable on SCALAR | OBJECT | FIELD_DEFINITION"
                     " | ARGUMENT_DEFINITION | INTERFACE | UNION | ENUM | ENUM_VALUE"
                     " | INPUT_OBJECT | INPUT_FIELD_DEFINITION | SCHEMA" % (name, a))
    return sdl + "\n" + "\n".join(extra) + "\n"


def render(mapping, code, args):
    msg = mapping.get(code, {}).get("message", code)
    return re.sub(r"\$\{(\w+)\}", lambda m: str((args or {}).get(m.group(1))), msg)


def norm(m):
    m = re.sub(r" Did you mean .*$", "", m)
    m = m.replace('"@', '"')
    return re.sub(r'on field "(\w+)\.(\w+)"', r'on field "\2" of type "\1"', m)


def locs(loc):
    if loc is None:
        return None
    if not isinstance(loc, list) or (loc and not isinstance(loc[0], (list, dict))):
        loc = [loc]
    return [{"line": x[0], "column": x[1]} if isinstance(x, list) else x for x in loc]


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("-")]
    verbose = "-v" in sys.argv
    strict = "--strict-messages" in sys.argv
    if len(args) != 2:
        print(__doc__)
        return 2
    binary, root = args
    v = Validator(binary)
    mapping = yaml.safe_load(open(os.path.join(root, "scenarios/error-mapping.yaml")))
    files = []
    for d, _, names in os.walk(os.path.join(root, "scenarios")):
        files += [os.path.join(d, n) for n in names if n.endswith(".yaml") and n != "error-mapping.yaml"]
    passed = failed = 0
    for f in sorted(files):
        sc = yaml.safe_load(open(f))
        bg = sc.get("background") or {}
        for t in sc["tests"]:
            if "validate" not in t["when"]:
                continue
            g = dict(bg, **(t.get("given") or {}))
            sdl = g.get("schema") or open(os.path.join(os.path.dirname(f), g["schema-file"])).read()
            why = []
            sr = v.use_schema(sdl)
            if "schema_errors" in sr:
                why.append("schema rejected: %s" % sr["schema_errors"][:3])
                res = {"errors": []}
            else:
                data = g["query"].encode()
                v.p.stdin.write(b"query %d rules=%s nolimits\n" % (len(data), ",".join(t["when"]["validate"]).encode()) + data)
                v.p.stdin.flush()
                res = json.loads(v.p.stdout.readline())
            errs = res.get("errors", [])
            syntax = res.get("syntax")
            thens = t["then"] if isinstance(t["then"], list) else [t["then"]]
            for a in thens:
                if "passes" in a and (syntax or errs):
                    why.append("expected pass; got %s" % (syntax or [e["message"] for e in errs]))
                if "syntax-error" in a and not syntax:
                    why.append("expected syntax error")
                if "error-count" in a and len(errs) != a["error-count"]:
                    why.append("error-count %d != %d" % (len(errs), a["error-count"]))
                if "error-code" in a:
                    want = render(mapping, a["error-code"], a.get("args"))
                    wl = locs(a.get("loc"))
                    ok = any((e["message"] == want if strict else norm(e["message"]) == norm(want))
                             and (wl is None or e["locations"] == wl) for e in errs)
                    if not ok:
                        why.append("missing [%s] \"%s\" @%s; got %s" % (
                            a["error-code"], want, json.dumps(a.get("loc")),
                            " | ".join(e["message"] + json.dumps(e["locations"]) for e in errs)))
                if "error" in a and not any(a["error"] in e["message"] for e in errs):
                    why.append("missing error \"%s\"" % a["error"])
            rel = os.path.relpath(f, root)
            if why:
                failed += 1
                print("FAIL %s :: %s\n   %s" % (rel, t["name"], "\n   ".join(why)))
            else:
                passed += 1
                if verbose:
                    print("ok   %s :: %s" % (rel, t["name"]))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
