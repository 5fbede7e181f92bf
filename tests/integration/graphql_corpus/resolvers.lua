-- The corpus resolvers (resolvers.mjs does the same for graphql-js).
-- GQL_DATA is set by 00data.lua, which the test writes from data.json.
local graphql = require "graphql"
local data = GQL_DATA
local users, posts = {}, {}
for _, u in ipairs(data.users) do users[u.id] = u end
for _, p in ipairs(data.posts) do posts[p.id] = p end

local function copy(t) local c = {} for k, v in pairs(t) do c[k] = v end return c end

graphql.resolvers {
  Query = {
    user = function(_, a) return users[a.id] end,
    users = function(_, a)
      local out = {}
      for _, u in ipairs(data.users) do
        if #out < a.first and (a.color == nil or u.color == a.color) then out[#out + 1] = u end
      end
      return out
    end,
    node = function(_, a) return users[a.id] or posts[a.id] end,
    named = function() return data.users end,
    search = function(_, a)
      local out = {}
      for _, u in ipairs(data.users) do
        if u.name:find(a.text, 1, true) then out[#out + 1] = u end
      end
      for _, p in ipairs(data.posts) do
        if p.title:find(a.text, 1, true) then out[#out + 1] = p end
      end
      return out
    end,
    echo = function(_, a) return a end,
    boom = function() error("boom", 0) end,
    boomNonNull = function() error("boom!", 0) end,
    nullNonNull = function() return nil end,
    badInt = function() return 3.5 end,
    bigInt = function() return 1099511627776 end,
    floaty = function() return 2.5 end,
    intAsFloat = function() return 7 end,
    stringy = function() return 42 end,
    color = function() return "GREEN" end,
    badColor = function() return "PURPLE" end,
    numbers = function() return data.numbers end,
    strictNumbers = function() return data.numbers end,
    matrix = function() return data.matrix end,
    json = function() return data.json end,
    stats = function() return { count = 3, avg = 1.5, ok = true } end,
  },
  User = {
    friends = function(u)
      local out = {}
      for i, id in ipairs(u.friends) do out[i] = users[id] end
      return out
    end,
    bestFriend = function(u) return users[u.friends[1] or ""] end,
    failing = function(u) error("failing " .. u.id, 0) end,
    mustNotFail = function(u) if u.id == "u2" then return nil end return "ok " .. u.id end,
    posts = graphql.batch(function(parents, a)
      local out = {}
      for i, u in ipairs(parents) do
        out[i] = {}
        for _, p in ipairs(data.posts) do
          if p.author == u.id and (a.first == nil or #out[i] < a.first) then
            out[i][#out[i] + 1] = p
          end
        end
      end
      return out
    end),
  },
  Post = {
    author = function(p) return users[p.author] end,
  },
  Mutation = {
    setName = function(_, a)
      local u = users[a.id]
      if not u then return nil end
      u = copy(u); u.name = a.name
      return u
    end,
    fail = function() error("mutation failed", 0) end,
    double = function(_, a) return a.n * 2 end,
  },
}

route.post("/graphql", "graphql")
route.get("/graphql", "graphql")
