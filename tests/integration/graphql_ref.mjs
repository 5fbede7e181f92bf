// Runs the graphql corpus through graphql-js: node graphql_ref.mjs CORPUS_DIR
// prints a JSON array of results, one per query of queries.json (in order).
// Also the whole getIntrospectionQuery() result as the last entry.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(process.env.GRAPHQL_JS_DIR + '/');
const { buildSchema, graphql, defaultFieldResolver, getIntrospectionQuery } = require('graphql');
const { makeResolvers } = await import(join(process.argv[2], 'resolvers.mjs'));

const dir = process.argv[2];
const schema = buildSchema(readFileSync(join(dir, 'schema.graphql'), 'utf8'));
const data = JSON.parse(readFileSync(join(dir, 'data.json'), 'utf8'));
const queries = JSON.parse(readFileSync(join(dir, 'queries.json'), 'utf8'));
const resolvers = makeResolvers(data);
const fieldResolver = (src, args, ctx, info) => {
  const r = resolvers[info.parentType.name]?.[info.fieldName];
  return r ? r(src, args, ctx, info) : defaultFieldResolver(src, args, ctx, info);
};
const out = [];
for (const q of [...queries, { name: 'introspection', query: getIntrospectionQuery() }]) {
  const r = await graphql({ schema, source: q.query, variableValues: q.variables ?? undefined,
                            operationName: q.operationName ?? undefined, rootValue: {}, fieldResolver });
  out.push(JSON.parse(JSON.stringify(r)));
}
process.stdout.write(JSON.stringify(out));
