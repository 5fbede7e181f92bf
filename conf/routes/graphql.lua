-- The GraphQL demo: conf/schema.graphql resolved over in-memory data (the
-- shop's orders and customers: orders_graphql.lua; the ledger: soap.lua).
-- Try:  curl -s localhost:8080/graphql -H 'content-type: application/json' \
--         -d '{"query":"{ users { name posts { title comments { text } } } }"}'
local graphql = require "graphql"

local users, posts, comments = {}, {}, {}
for i = 1, 5 do
  users[i] = { id = tostring(i), name = "user" .. i, email = "user" .. i .. "@example.com",
               role = i == 1 and "ADMIN" or "EDITOR", __typename = "User" }
end
for i = 1, 10 do
  posts[i] = { id = tostring(i), title = "post " .. i, body = "text of post " .. i,
               author_id = tostring((i - 1) % 5 + 1), __typename = "Post" }
end
for i = 1, 20 do
  comments[i] = { id = tostring(i), text = "comment " .. i,
                  post_id = tostring((i - 1) % 10 + 1), author_id = tostring(i % 5 + 1),
                  __typename = "Comment" }
end
local by_id = {}
for _, list in ipairs { users, posts, comments } do
  for _, v in ipairs(list) do by_id[v.__typename .. ":" .. v.id] = v end
end

-- children of each parent, in one pass: what a batched resolver returns
local function group(parents, list, key, parent_key)
  local out, index = {}, {}
  for i, p in ipairs(parents) do out[i] = {}; index[p[parent_key or "id"]] = out[i] end
  for _, v in ipairs(list) do
    local bucket = index[v[key]]
    if bucket then bucket[#bucket + 1] = v end
  end
  return out
end

graphql.resolvers {
  Query = {
    hello = function(_, args) return "hello, " .. args.name end,
    user = function(_, args) return by_id["User:" .. args.id] end,
    users = function(_, args)
      local out = {}
      for _, u in ipairs(users) do
        if #out >= args.first then break end
        if not args.role or u.role == args.role then out[#out + 1] = u end
      end
      return out
    end,
    node = function(_, args)
      return by_id["User:" .. args.id] or by_id["Post:" .. args.id]
    end,
    search = function(_, args)
      local out = {}
      for _, list in ipairs { users, posts } do
        for _, v in ipairs(list) do
          if (v.name or v.title):find(args.text, 1, true) then out[#out + 1] = v end
        end
      end
      return out
    end,
  },
  Mutation = {
    createPost = function(_, args, ctx)
      local p = { id = tostring(#posts + 1), title = args.input.title, body = args.input.body,
                  author_id = args.input.authorId, __typename = "Post" }
      if not by_id["User:" .. p.author_id] then error("no user " .. p.author_id, 0) end
      posts[#posts + 1] = p
      by_id["Post:" .. p.id] = p
      return p
    end,
  },
  -- one call per level for all the users / posts of that level
  User = {
    posts = graphql.batch(function(parents, args)
      local out = group(parents, posts, "author_id")
      if args.limit then
        for i, list in ipairs(out) do out[i] = { table.unpack(list, 1, args.limit) } end
      end
      return out
    end),
  },
  Post = {
    author = graphql.batch(function(parents)
      local out = {}
      for i, p in ipairs(parents) do out[i] = by_id["User:" .. p.author_id] end
      return out
    end),
    comments = graphql.batch(function(parents) return group(parents, comments, "post_id") end),
  },
  Comment = {
    author = function(c) return by_id["User:" .. c.author_id] end,
  },
}

route.post("/graphql", "graphql")
route.get("/graphql", "graphql")
