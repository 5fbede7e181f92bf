// Differential check of the C GraphQL parser against graphql-js (reference).
//
//   cd DIR_WITH_graphql_16.8 && node crosscheck.mjs GQLPARSE [SEED.graphql...]
//
// GQLPARSE is the tools/gqlparse binary. Cases: hand-written snippets, the
// seed files, and seeded random mutants of them (characters deleted,
// inserted, duplicated, truncated). For each, both parsers must agree on
// success, on the printed text (graphql-js print), or on the error message,
// line and column (graphql-js columns are UTF-16 units; converted to code
// points here). graphql-js 16.8 implements the October 2021 grammar; later
// 16.x accept descriptions on operations, which that edition does not.
import { createRequire } from 'node:module';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';

const require = createRequire(process.cwd() + '/');
const { parse, parseValue, parseConstValue, parseType, print, version } = require('graphql');
const [bin, ...seeds] = process.argv.slice(2);
if (!bin) { console.error('usage: node crosscheck.mjs GQLPARSE [SEED...]'); process.exit(2); }

const snippets = [
  '', ' ', '#c', '{', '}', '{}', '{ a }', '{ a } }', 'query', 'query Q', 'query Q {', 'query Q($a) { a }',
  'query Q($a:) { a }', 'query Q($a: Int = $b) { a }', 'query Q($a: Int = [1, $b]) { a }', 'query ($a: Int) { a }',
  'query Q() { a }', 'mutation { a }', 'subscription S { a }', 'fragment on on T { a }', 'fragment F on T { a }',
  'fragment F($v: Int) on T { a }', 'fragment F on { a }', 'fragment F T { a }', '{ ...on }', '{ ... on T }',
  '{ ...F @d }', '{ ... @d { a } }', '{ a(b: 1, c: "x", d: [1 2], e: {f: g}) }', '{ a() }', '{ a(b) }', '{ a(b:) }',
  '{ a @ }', '{ a @d( }', '{ a: }', '{ a: b: c }', '{ query mutation subscription fragment on }',
  '{ a(x: 0x1) }', '{ a(x: 1.) }', '{ a(x: 1e) }', '{ a(x: 00) }', '{ a(x: 1.0.) }', '{ a(x: 1.0e) }', '{ a(x: -) }',
  '{ a(x: -a) }', '{ a(x: 1a) }', '{ a(x: 1_) }', '{ a(x: .5) }', '{ a(x: ..) }', '{ a(x: 1e+) }', '{ a(x: 1E-2) }',
  '{ a(x: "\\q") }', '{ a(x: "\\u12") }', '{ a(x: "\\u{}") }', '{ a(x: "\\u{110000}") }', '{ a(x: "\\u{D800}") }',
  '{ a(x: "\\uD800") }', '{ a(x: "\\uDC00") }', '{ a(x: "\\uD800\\u0041") }', '{ a(x: "\\uD83D\\uDE00") }',
  '{ a(x: "\\u{1F600}") }', '{ a(x: "\\u{00000041}") }', '{ a(x: "\\u{000000041}") }', '{ a(x: "\\u{FFFFFFFF}") }',
  '{ a(x: "\\u{g}") }', '{ a(x: "\\u{41") }', '{ a(x: "abc) }', '{ a(x: "a\nb") }', '{ a(x: "a\rb") }', '"',
  '"""', '""""""', '{ a(x: """a\\"""b""") }', '{ a(x: """  \n  a\n    b\n\n  """) }', '{ a(x: """a\r\n  b\r  c""") }',
  '{ a(x: \'s\') }', '{ a(x: "\u0007") }', '{ a(x: "é😀") }', '{ é }', '{ a } \u0001', '\ufeff{ a }', '{ a\u00a0}',
  '{ a(x: true, y: false, z: null, w: TRUE) }', 'enum E { true }', 'enum E { null }', 'enum E { A B }', 'enum E {}',
  'enum E { "d" "true" }', 'type T', 'type T {}', 'type T { a }', 'type T { a: }', 'type T { a(b: Int = $v): C }',
  'type T implements A, B { a: B }', 'type T implements & A & B', 'type T implements', 'type T @d(a: $v)',
  'interface I implements J & K { a: B }', 'union U', 'union U =', 'union U = | A | B', 'union U = A |',
  'scalar S', 'scalar S @d', 'input I { a: B = 1 }', 'input I { a(b: C): D }', 'directive @d on FIELD',
  'directive @d on FIELD | FOO', 'directive @d repeatable on | FIELD', 'directive @d(a: Int) on', 'directive d on FIELD',
  'extend type T', 'extend type T { a: B }', 'extend type T @d', 'extend scalar S', 'extend schema', 'extend schema @d',
  'extend schema { query: Q }', 'extend directive @d on FIELD', 'extend foo', 'extend', 'extend union U', 'extend enum E',
  'extend input I', 'extend interface I', 'schema { query: Q }', 'schema {}', 'schema { foo: Q }', 'schema @d',
  '"d" schema { query: Q }', '"d" query { a }', '"d" { a }', '"d" fragment F on T { a }', '"d" extend type T @d', '"d"',
  '"""d""" type T { "f" a("x" b: C): D }', '{ a } type T { b: C }', 'type T { b: C } { a }', 'query Q @d(a: $v) { a }',
  'query Q($a: [[Int!]!]! = [[1]]) { a }', 'query Q($a: Int!!) { a }', 'query Q($a: [Int) { a }', 'query Q($a: Int @d(a: $b)) { a }',
  '{ a(b: {c: $d}) }', '{ a(b: {c}) }', '{ a(b: {c: 1, }) }', '{ a(b: [1, [2, [3]]]) }', '{ a(b: $) }', '{ a(b: $ 1) }',
  '{ a(b: $c d) }', '{ a { b { c } } }', '{ a { } }', '{ a, , b,, }', '{ a#c\n b }', 'query Q\r\n{\r\n  a\r\n  b(\r\n)}',
  '{ a }\n\n\n  }', '\n\n   \t  {', 'query Q { a(x: "\\"") }', '{ a(x: "\\\\") }', 'type Q { a: [String]! = 1 }',
  '{ a(x: 9007199254740993) }', '{ a(x: -0.0e-0) }', '{ a(x: 1E400) }', '{ ... }', '{ ...  }', '{ .. . }', '&', '|', '!', '$',
  'query Q($a: Int = 1 = 2) { a }', 'fragment F on T @d(a: $v) { a }', 'fragment F on T! { a }', '{ ... on [T] { a } }',
];

function rnd(seed) { let s = seed >>> 0; return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 4294967296); }
const alphabet = ['{', '}', '(', ')', '[', ']', ':', '$', '@', '!', '=', '|', '&', '.', '...', '"', '"""', '\\', '#', ',',
  ' ', '\n', '\r', '\t', '0', '1', '-', 'e', 'E', 'a', 'on', 'query', 'fragment', 'type', 'extend', 'true', 'null',
  '\\u', '\\u{', 'é', '😀', '\u0001', '\ufeff', "'", '+', '_', 'x'];
function mutants(src, n, seed) {
  const r = rnd(seed), out = [];
  const cps = Array.from(src);
  for (let i = 0; i < n; i++) {
    const a = cps.slice(); const pos = Math.floor(r() * (a.length + 1)); const op = Math.floor(r() * 5);
    if (op === 0 && a.length) a.splice(Math.min(pos, a.length - 1), 1);
    else if (op === 1) a.splice(pos, 0, alphabet[Math.floor(r() * alphabet.length)]);
    else if (op === 2) { const len = 1 + Math.floor(r() * 8); a.splice(pos, 0, ...a.slice(pos, pos + len)); }
    else if (op === 3) a.length = pos;
    else { const k = 1 + Math.floor(r() * 3); for (let j = 0; j < k; j++) a.splice(Math.floor(r() * (a.length + 1)), 0, alphabet[Math.floor(r() * alphabet.length)]); }
    out.push(a.join(''));
  }
  return out;
}

const cases = snippets.map((s) => ({ src: s, goal: 'd' }));
for (const v of ['1', '-1.5e3', '"s"', '[1, $a]', '{a: [$b]}', '$a', 'ENUM', '', '1 2', '{a: 1', '"""x"""'])
  { cases.push({ src: v, goal: 'v' }); cases.push({ src: v, goal: 'c' }); }
for (const t of ['Int', '[Int!]!', 'Int!!', '[Int', '', '[[A]]!', 'Int Int', '!']) cases.push({ src: t, goal: 't' });
let seedNo = 1;
for (const f of seeds) {
  const text = fs.readFileSync(f, 'utf8');
  cases.push({ src: text, goal: 'd' });
  for (const m of mutants(text, Number(process.env.MUTANTS || 4000), seedNo++)) cases.push({ src: m, goal: 'd' });
  for (const m of mutants(text, Number(process.env.MUTANTS || 4000) / 4, seedNo++)) for (const mm of mutants(m, 1, seedNo++)) cases.push({ src: mm, goal: 'd' });
}
for (const s of snippets) for (const m of mutants(s, 40, seedNo++)) cases.push({ src: m, goal: 'd' });

// graphql-js's location is in UTF-16 units; ours in code points.
function cpColumn(src, line, col) {
  const lines = src.split(/\r\n|[\n\r]/g); const text = lines[line - 1] ?? '';
  return Array.from(text.slice(0, col - 1)).length + 1;
}
function reference(c) {
  try {
    if (c.goal === 'v') return { ok: true, print: print(parseValue(c.src)) };
    if (c.goal === 'c') return { ok: true, print: print(parseConstValue(c.src)) };
    if (c.goal === 't') return { ok: true, print: print(parseType(c.src)) };
    return { ok: true, print: print(parse(c.src)) };
  } catch (e) {
    if (!e.locations) throw e;
    const { line, column } = e.locations[0];
    return { ok: false, line, column: cpColumn(c.src, line, column), message: e.message };
  }
}

// Documented differences: a token value quoted in a message is cut after
// 120 bytes (ending in "..."), and an escape sequence quoted in a message
// shows a character above U+FFFF whole where graphql-js shows half of it.
let cut = 0;
function sameMessage(got, want) {
  if (got === want) return true;
  const m = /^(.*)\.\.\."\.$/s.exec(got);
  if (m && want.length > got.length && want.startsWith(m[1])) { cut++; return true; }
  const lone = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.exec(want);
  if (lone && got.startsWith(want.slice(0, lone.index))) { cut++; return true; }
  return false;
}

// graphql-js prints an anonymous query as "{ ... }" even right after
// "type T" or "extend schema @d", where reparsing reads the "{" as part of
// that definition. We print "query { ... }" there. Accept our text when
// graphql-js's does not reparse to the same tree and ours does.
let fixedPrints = 0;
function betterPrint(src, got, want) {
  const ast = (text) => { try { return JSON.stringify(parse(text, { noLocation: true })); } catch { return 'error'; } };
  const a = ast(src);
  if (ast(want) === a || ast(got) !== a) return false;
  fixedPrints++;
  return true;
}

let pass = 0, fail = 0; const shown = [];
for (const goal of ['d', 'v', 'c', 't']) {
  const group = cases.filter((c) => c.goal === goal);
  const input = Buffer.concat(group.map((c) => { const b = Buffer.from(c.src, 'utf8'); return Buffer.concat([Buffer.from(b.length + '\n'), b]); }));
  const res = spawnSync(bin, ['--batch', '-' + goal === '-d' ? '' : '-' + goal].filter(Boolean), { input, maxBuffer: 1 << 30 });
  if (res.status !== 0) { console.error('gqlparse failed', res.status, res.stderr.toString()); process.exit(2); }
  const lines = res.stdout.toString('utf8').trim().split('\n');
  group.forEach((c, i) => {
    const got = JSON.parse(lines[i]); const want = reference(c);
    const same = got.ok === want.ok && (got.ok ? got.print === want.print || betterPrint(c.src, got.print, want.print)
      : sameMessage(got.message, want.message) && got.line === want.line && got.column === want.column);
    if (same) pass++; else { fail++; if (shown.length < 25) shown.push({ goal, src: c.src, got, want }); }
  });
}
for (const s of shown) console.log('MISMATCH', JSON.stringify(s));
console.log(`graphql-js ${version}: ${pass} agree (${cut} up to message truncation, ${fixedPrints} where its print() does not round-trip), ${fail} differ (of ${pass + fail})`);
process.exit(fail ? 1 : 0);
