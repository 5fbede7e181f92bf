// Differential test of the validator against graphql-js (16.8).
//
//   npm install graphql@16.8.1        (in this directory or a parent)
//   node crosscheck_validate.mjs GQLVALIDATE SCHEMA.graphql QUERIES.graphql... [-v]
//
// QUERIES files hold documents separated by lines starting with "# ---".
// Each document is validated by graphql-js (all specifiedRules, maxErrors
// 100) and by GQLVALIDATE --batch (limits off); the error lists must agree
// in messages, locations and order. Documents graphql-js cannot parse are
// skipped. Exit status 1 when any document differs.
//
// --mutate N [--seed S]: also validate N random mutants of each document
// (renamed fields, types, fragments and directives, other literals,
// dropped or added selection sets, duplicated selections...).
import fs from 'node:fs';
import { spawn } from 'node:child_process';
import { buildSchema, parse, print, validate, visit, Kind } from 'graphql';

const argv = process.argv.slice(2);
const opt = (name, dflt) => { const i = argv.indexOf(name); if (i < 0) return dflt;
  const v = argv[i + 1]; argv.splice(i, 2); return Number(v); };
const mutants = opt('--mutate', 0);
let seed = opt('--seed', 1) >>> 0;
const args = argv.filter((a) => a !== '-v');
const verbose = process.argv.includes('-v');
const [bin, schemaFile, ...queryFiles] = args;
if (!bin || !schemaFile || !queryFiles.length) {
  console.error('usage: node crosscheck_validate.mjs GQLVALIDATE SCHEMA QUERIES... [-v]');
  process.exit(2);
}
const sdl = fs.readFileSync(schemaFile, 'utf8');
const schema = buildSchema(sdl);
const docs = [];
for (const f of queryFiles)
  for (const d of fs.readFileSync(f, 'utf8').split(/^# ---.*\n/m))
    if (d.trim()) docs.push({ file: f, text: d });

const child = spawn(bin, ['--batch'], { stdio: ['pipe', 'pipe', 'inherit'] });
let buf = '';
const waiting = [];
child.stdout.on('data', (d) => {
  buf += d;
  let i;
  while ((i = buf.indexOf('\n')) >= 0) {
    const line = buf.slice(0, i);
    buf = buf.slice(i + 1);
    waiting.shift()(JSON.parse(line));
  }
});
const ask = (head, body, opts = '') => new Promise((res) => {
  waiting.push(res);
  child.stdin.write(`${head} ${Buffer.byteLength(body)} ${opts}\n`);
  child.stdin.write(body);
});

const norm = (errs) => errs.map((e) => ({ message: e.message,
  locations: (e.locations || []).map(({ line, column }) => ({ line, column })) }));
const show = (errs) => errs.map((e) => `  ${e.message} ${JSON.stringify(e.locations.map((l) => [l.line, l.column]))}`).join('\n');

// ---- mutations ----
const rnd = () => { seed = (seed * 1664525 + 1013904223) >>> 0; return seed / 4294967296; };
const pick = (a) => a[Math.floor(rnd() * a.length)];
const types = Object.values(schema.getTypeMap());
const fieldNames = [...new Set(types.flatMap((t) => t.getFields ? Object.keys(t.getFields()) : []))].concat(['__typename', '__schema', '__type', 'nope']);
const argNames = [...new Set(types.flatMap((t) => t.getFields ? Object.values(t.getFields()).flatMap((f) => (f.args || []).map((a) => a.name)) : []))].concat(['if', 'x', 'first']);
const typeNames = types.map((t) => t.name).concat(['Nope', 'Float', 'ID']);
const dirNames = schema.getDirectives().map((d) => d.name).concat(['nope']);
const literals = ['1', '-1', '2147483648', '1.5', '"s"', 'true', 'null', 'RED', 'PINK', '[1]', '["a", null]', '{x: 1}',
  '{requiredField: true}', '{a: 1, a: 2}', '$v', '$a', '[$v]', '{street: "s", city: $v}'];
const typeRefs = ['Int', 'Int!', 'String', '[String!]', 'Boolean!', 'Dog', 'Color', 'Complex', '[Int]!', 'Nope', 'ID', 'Float'];
const lit = () => parse(`{ f(a: ${pick(literals)}) }`).definitions[0].selectionSet.selections[0].arguments[0].value;
function mutate(doc) {
  const frags = doc.definitions.filter((d) => d.kind === Kind.FRAGMENT_DEFINITION).map((d) => d.name.value).concat(['Nope']);
  const n = 1 + Math.floor(rnd() * 3);
  let d = doc;
  for (let k = 0; k < n; k++) {
    let count = 0;
    visit(d, { enter() { count++; } });
    const target = Math.floor(rnd() * count);
    let i = 0;
    d = visit(d, { enter(node) {
      if (i++ !== target) return undefined;
      switch (node.kind) {
        case Kind.FIELD: {
          const r = rnd();
          if (r < 0.35) return { ...node, name: { ...node.name, value: pick(fieldNames) } };
          if (r < 0.5) return { ...node, alias: node.alias ? undefined : { kind: Kind.NAME, value: pick(fieldNames) } };
          if (r < 0.65) return { ...node, selectionSet: node.selectionSet ? undefined : parse('{ name }').definitions[0].selectionSet };
          if (r < 0.85) return { ...node, arguments: [...(node.arguments || []), { kind: Kind.ARGUMENT, name: { kind: Kind.NAME, value: pick(argNames) }, value: lit() }] };
          return { ...node, directives: [...(node.directives || []), { kind: Kind.DIRECTIVE, name: { kind: Kind.NAME, value: pick(dirNames) }, arguments: rnd() < 0.7 ? [{ kind: Kind.ARGUMENT, name: { kind: Kind.NAME, value: 'if' }, value: lit() }] : [] }] };
        }
        case Kind.SELECTION_SET:
          if (rnd() < 0.5 && node.selections.length) return { ...node, selections: [...node.selections, pick(node.selections)] };
          return { ...node, selections: [...node.selections, rnd() < 0.5 ? { kind: Kind.FRAGMENT_SPREAD, name: { kind: Kind.NAME, value: pick(frags) }, directives: [] }
            : { kind: Kind.INLINE_FRAGMENT, typeCondition: { kind: Kind.NAMED_TYPE, name: { kind: Kind.NAME, value: pick(typeNames) } }, directives: [], selectionSet: parse('{ name }').definitions[0].selectionSet }] };
        case Kind.FRAGMENT_SPREAD: return { ...node, name: { ...node.name, value: pick(frags) } };
        case Kind.NAMED_TYPE: return { ...node, name: { ...node.name, value: pick(typeNames) } };
        case Kind.VARIABLE_DEFINITION:
          return rnd() < 0.5 ? { ...node, type: parse(`query($x: ${pick(typeRefs)}) { a }`).definitions[0].variableDefinitions[0].type }
            : { ...node, defaultValue: rnd() < 0.3 ? undefined : lit() };
        case Kind.ARGUMENT: return rnd() < 0.7 ? { ...node, value: lit() } : { ...node, name: { ...node.name, value: pick(argNames) } };
        case Kind.DIRECTIVE: return { ...node, name: { ...node.name, value: pick(dirNames) } };
        case Kind.OBJECT_FIELD: return rnd() < 0.5 ? { ...node, value: lit() } : { ...node, name: { ...node.name, value: pick(argNames.concat(['requiredField', 'intField', 'nested'])) } };
        case Kind.OPERATION_DEFINITION:
          if (rnd() < 0.5) return { ...node, name: node.name ? undefined : { kind: Kind.NAME, value: 'Op' + Math.floor(rnd() * 3) } };
          return { ...node, variableDefinitions: [...(node.variableDefinitions || []), parse(`query($${pick(['v', 'a', 'x'])}: ${pick(typeRefs)}) { a }`).definitions[0].variableDefinitions[0]] };
        default: return undefined;
      }
    } });
  }
  return d;
}
for (const d of [...docs]) {
  let doc;
  try { doc = parse(d.text); } catch { continue; }
  for (let k = 0; k < mutants; k++) {
    try { const text = print(mutate(doc)); parse(text); docs.push({ file: d.file + ' (mutant)', text }); } catch { /* unprintable */ }
  }
}

const s = await ask('schema', sdl);
if (!s.schema) { console.error('our schema build failed:', JSON.stringify(s)); process.exit(1); }
let same = 0, differ = 0, skipped = 0, threw = 0;
for (const d of docs) {
  let doc;
  try { doc = parse(d.text); } catch { skipped++; continue; }
  let want;
  try { want = norm(validate(schema, doc)); } catch (e) {
    // graphql-js throws from SingleFieldSubscriptions on a bad @skip/@include
    threw++; continue;
  }
  const got = await ask('query', d.text, 'nolimits').then((r) => r.errors ? norm(r.errors) : r);
  const a = JSON.stringify(want), b = JSON.stringify(got);
  if (a === b) { same++; if (verbose) console.log(`ok   ${d.text.trim().split('\n')[0].slice(0, 70)}`); continue; }
  differ++;
  console.log(`DIFF ${d.file}\n${d.text.trim()}\n graphql-js:\n${show(want)}\n ours:\n${Array.isArray(got) ? show(got) : JSON.stringify(got)}\n`);
}
child.stdin.end();
console.log(`${same} same, ${differ} different, ${skipped} skipped (graphql-js syntax error), ${threw} skipped (graphql-js threw)`);
process.exit(differ ? 1 : 0);
