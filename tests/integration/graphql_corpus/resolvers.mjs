// The corpus resolvers for graphql-js (resolvers.lua does the same for Portico).
export function makeResolvers(data) {
  const users = Object.fromEntries(data.users.map((u) => [u.id, u]));
  const posts = Object.fromEntries(data.posts.map((p) => [p.id, p]));
  const fail = (m) => { throw new Error(m); };
  return {
    Query: {
      user: (_, a) => users[a.id] ?? null,
      users: (_, a) => data.users.filter((u) => a.color == null || u.color === a.color).slice(0, a.first),
      node: (_, a) => users[a.id] ?? posts[a.id] ?? null,
      named: () => data.users,
      search: (_, a) => [...data.users.filter((u) => u.name.includes(a.text)),
                         ...data.posts.filter((p) => p.title.includes(a.text))],
      echo: (_, a) => a,
      boom: () => fail('boom'),
      boomNonNull: () => fail('boom!'),
      nullNonNull: () => null,
      badInt: () => 3.5,
      bigInt: () => 1099511627776,
      floaty: () => 2.5,
      intAsFloat: () => 7,
      stringy: () => 42,
      color: () => 'GREEN',
      badColor: () => 'PURPLE',
      numbers: () => data.numbers,
      strictNumbers: () => data.numbers,
      matrix: () => data.matrix,
      json: () => data.json,
      stats: () => ({ count: 3, avg: 1.5, ok: true }),
    },
    User: {
      friends: (u) => u.friends.map((id) => users[id]),
      bestFriend: (u) => users[u.friends[0]] ?? null,
      failing: (u) => fail('failing ' + u.id),
      mustNotFail: (u) => (u.id === 'u2' ? null : 'ok ' + u.id),
      posts: (u, a) => data.posts.filter((p) => p.author === u.id).slice(0, a.first ?? undefined),
    },
    Post: { author: (p) => users[p.author] },
    Mutation: {
      setName: (_, a) => (users[a.id] ? { ...users[a.id], name: a.name } : null),
      fail: () => fail('mutation failed'),
      double: (_, a) => a.n * 2,
    },
  };
}
