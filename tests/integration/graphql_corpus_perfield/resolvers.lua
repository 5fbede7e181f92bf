-- The per-field corpus's resolvers; resolvers.mjs is the same in JavaScript.
local graphql = require "graphql"
local users, posts = {}, {}
for i = 1, 100 do
  local f, p = {}, {}
  for k = 1, 8 do f[k] = (i * 7 + k * 13) % 100 + 1 end
  for k = 1, 10 do p[k] = (i - 1) * 10 + k end
  users[i] = { id = tostring(i), name = "user " .. i, friend_ids = f, post_ids = p }
end
for j = 1, 1000 do
  posts[j] = { id = "p" .. j, title = "post " .. j, author_id = j * 31 % 100 + 1 }
end
local function take(ids, n, from)
  local out = {}
  for k = 1, math.min(n, #ids) do out[k] = from[ids[k]] end
  return out
end
local function path_of(info)
  local t = {}
  for i, k in ipairs(info.path) do t[i] = tostring(k) end
  return table.concat(t, ".")
end
graphql.resolvers {
  Query = {
    users = function(_, a)
      local out = {}
      for i = 1, math.min(a.first, #users) do out[i] = users[i] end
      return out
    end,
    user = function(_, a) return users[tonumber(a.id)] end,
  },
  User = {
    friends = function(u, a) return take(u.friend_ids, a.first, users) end,
    posts = function(u, a) return take(u.post_ids, a.first, posts) end,
    kind = function(u, a, ctx, info)
      return info.parentType .. "." .. info.fieldName .. ":" .. info.returnType .. ":" ..
             info.operation .. ":" .. tostring(info.operationName)
    end,
    argc = function(...) return select("#", ...) end,
  },
  Post = {
    author = function(p) return users[p.author_id] end,
    where = function(p, a, ctx, info) return path_of(info) end,
    flaky = function(p) if p.id:sub(-1) == "3" then error("flaky " .. p.id, 0) end return "ok" end,
    strict = function(p) if p.id:sub(-1) == "2" then return nil end return p.title end,
  },
}
route.post("/graphql", "graphql")
