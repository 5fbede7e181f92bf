// The per-field corpus's resolvers in JavaScript (resolvers.lua in Lua).
export function makeResolvers() {
  const users = [null], posts = [null];
  for (let i = 1; i <= 100; i++) {
    const f = [], p = [];
    for (let k = 1; k <= 8; k++) f.push((i * 7 + k * 13) % 100 + 1);
    for (let k = 1; k <= 10; k++) p.push((i - 1) * 10 + k);
    users.push({ id: String(i), name: 'user ' + i, friend_ids: f, post_ids: p });
  }
  for (let j = 1; j <= 1000; j++)
    posts.push({ id: 'p' + j, title: 'post ' + j, author_id: j * 31 % 100 + 1 });
  const take = (ids, n, from) => ids.slice(0, Math.max(n, 0)).map((id) => from[id]);
  const pathOf = (info) => {
    const keys = [];
    for (let p = info.path; p; p = p.prev) keys.unshift(String(p.key));
    return keys.join('.');
  };
  return {
    Query: {
      users: (_, { first }) => users.slice(1, 1 + Math.max(first, 0)),
      user: (_, { id }) => users[Number(id)] ?? null,
    },
    User: {
      friends: (u, { first }) => take(u.friend_ids, first, users),
      posts: (u, { first }) => take(u.post_ids, first, posts),
      kind: (u, a, ctx, info) => `${info.parentType.name}.${info.fieldName}:${info.returnType}:` +
        `${info.operation.operation}:${info.operation.name ? info.operation.name.value : 'nil'}`,
      argc: (...args) => args.length,
    },
    Post: {
      author: (p) => users[p.author_id],
      where: (p, a, ctx, info) => pathOf(info),
      flaky: (p) => { if (p.id.endsWith('3')) throw new Error('flaky ' + p.id); return 'ok'; },
      strict: (p) => (p.id.endsWith('2') ? null : p.title),
    },
  };
}
