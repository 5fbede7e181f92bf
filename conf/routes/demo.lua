-- Demo routes: ordinary Lua. Each request runs in its own coroutine, so
-- sleep() and http.request() wait without blocking the worker.

route.get("/v1/users/:id", function(req)
  local id = tonumber(req.params.id)
  if not id then
    return 400, { error = "id must be a number" }
  end
  return { id = id, name = "ada" }                      -- a table: 200 JSON
end)

route.post("/v1/echo", function(req)
  local body, err = req:json()
  if not body then
    return 400, { error = err }
  end
  return 201, body
end)

route.get("/v1/text", function()
  return 200, "hi\n", { ["content-type"] = "text/plain" }
end)

route.get("/v1/slow", function(req)
  sleep(tonumber(req.query.seconds) or 0.1)             -- yields; other requests go on
  return { slept = true }
end)

route.get("/v1/count", function()
  return { visits = shared.incr("visits", 1, 0) }       -- shared by every worker
end)

route.get("/v1/stream", function(req, res)
  res:header("content-type", "text/plain")
  for i = 1, 3 do
    res:write("chunk " .. i .. "\n")
  end
  res:finish()
end)

-- A filter: runs before the handlers of the routes that name it.
filter("demo_key", function(req, res, opts)
  if req.headers["x-api-key"] ~= opts then
    return 401, { error = "missing or wrong x-api-key" }
  end
  req.consumer = { name = "demo" }
end)

route.get("/v1/private", function(req)
  return { hello = req.consumer.name }
end, { demo_key = "secret" })

-- The gateway: the users service behind a JWT and a rate limit. `group`
-- prefixes every route it declares, so /api/users/... is proxied to the
-- services as /users/... (strip_prefix), balanced over both.
local users = upstream "users"
group("/api", function()
  route.any("/users/*rest", proxy(users, { strip_prefix = "/api", timeout = 5 }),
            { jwt = true, rate = { limit = 10, period = 1, key = "consumer" },
              summary = "The users service, through the gateway" })
  route.get("/whoami", function(req) return { consumer = req.consumer } end,
            { auth = { "jwt", "key-auth", "basic" }, summary = "Who the gateway says you are" })
end)
