-- Tests of the shop's routes (conf/routes/orders.lua, orders_graphql.lua,
-- webhooks.lua, shop.lua) with the legacy CRM stubbed:
--   core/portico -c conf/portico.conf test conf/tests/shop_test.lua
-- The gRPC upstream "orders" is not stubbed by `portico test` (doc/testing.md),
-- so these stop before it: the gateway, the input checks, the CRM's answers.
-- The whole path runs in tests/integration/test_shop_demo.py.

-- a demo token (conf/portico.conf's jwt secret) that expires in 2100
local TOKEN = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ0ZXN0ZXIiLCJpc3MiOiJwb3J0aWNvLWRlbW8i" ..
  "LCJpYXQiOjE3OTY2MDAwMDAsImV4cCI6NDEwMjQ0NDgwMH0.iqfm1cUECPHEfvKhyeiGVQ_M8gdbwNn0eCs0UEaHceg"
local AUTH = { authorization = "Bearer " .. TOKEN, ["content-type"] = "application/json" }
-- another consumer (sub "rate-tester"), whose rate bucket the rate test may empty
local RATE_AUTH = { authorization = "Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJyYXRlLXRl" ..
  "c3RlciIsImlzcyI6InBvcnRpY28tZGVtbyIsImlhdCI6MTc5NjYwMDAwMCwiZXhwIjo0MTAyNDQ0ODAwfQ." ..
  "I6ldSoYGKM8LzGmNC3uNv-QiCZFk-hziZ-IFW7_b4nU" }

local ENV = '<?xml version="1.0" encoding="utf-8"?>' ..
  '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:c="urn:example:crm">' ..
  '<soap:Body>%s</soap:Body></soap:Envelope>'
local XML = { ["content-type"] = "text/xml; charset=utf-8" }

local function not_found(id)
  return 500, ENV:format('<soap:Fault><faultcode>soap:Client</faultcode><faultstring>customer ' ..
    id .. ' does not exist</faultstring><detail><c:CustomerNotFound><c:customerId>' .. id ..
    '</c:customerId></c:CustomerNotFound></detail></soap:Fault>'), XML
end

local function post(body, headers)
  return request("POST", "/v1/orders", { body = body, headers = headers or AUTH })
end

describe("POST /v1/orders: the gateway", function()
  it("wants a token", function()
    local r = post({ item = "book", customer_id = 1 }, { ["content-type"] = "application/json" })
    expect(r.status).to_be(401)
  end)
  it("limits each consumer to 50 a second, both routes in one bucket", function()
    local codes = {}
    for i = 1, 60 do codes[request("GET", "/v1/orders/x", { headers = RATE_AUTH }).status] = true end
    expect(codes[400]).to_be(true)
    expect(codes[429]).to_be(true)
    local r = post("{}", RATE_AUTH)
    expect(r.status).to_be(429)
    expect(r.headers["retry-after"]).to_be_truthy()
    expect(post("{}").status).to_be(400)        -- another consumer: its own bucket
  end)
  it("refuses a token signed with another secret", function()
    local bad = TOKEN:sub(1, -5) .. "AAAA"
    local r = post({ item = "book", customer_id = 1 }, { authorization = "Bearer " .. bad })
    expect(r.status).to_be(401)
  end)
end)

describe("POST /v1/orders: input", function()
  local calls
  before_each(function()
    calls = 0
    stub.upstream("crm", function() calls = calls + 1; return not_found(1) end)
  end)
  it("says why a body is not JSON, without calling the CRM", function()
    local r = post("{nope")
    expect(r.status).to_be(400)
    expect(r.json.error).to_be_truthy()
    expect(calls).to_be(0)
  end)
  it("names the bad field", function()
    expect(post({ customer_id = 1 }).json.error).to_contain("item")
    expect(post({ item = "a", quantity = 0, customer_id = 1 }).json.error).to_contain("quantity")
    expect(post({ item = "a", quantity = 1.5, customer_id = 1 }).json.error).to_contain("quantity")
    expect(post({ item = "a" }).json.error).to_contain("customer_id")
    expect(post({ item = "a", customer_id = "2" }).json.error).to_contain("customer_id")
    expect(post({ 1, 2 }).status).to_be(400)
    expect(calls).to_be(0)
  end)
end)

describe("POST /v1/orders: the CRM", function()
  it("turns CustomerNotFound into a 422, passing the request id on", function()
    local seen
    stub.upstream("crm", function(req)
      seen = req
      return not_found(req.body:match("<[%w:]*customerId>(%d+)<"))
    end)
    local h = { authorization = AUTH.authorization, ["x-request-id"] = "shop-test-1" }
    local r = post({ item = "book", customer_id = 77 }, h)
    expect(r.status).to_be(422)
    expect(r.json).to_equal({ error = "customer 77 not found" })
    expect(seen.path).to_be("/crm")
    expect(seen.headers["x-request-id"]).to_be("shop-test-1")
    expect(seen.headers["soapaction"]).to_contain("GetCustomer")
  end)
  it("is a 502 JSON error when the CRM fails, never XML", function()
    stub.upstream("crm", function()
      return 500, ENV:format('<soap:Fault><faultcode>soap:Server</faultcode>' ..
        '<faultstring>crm database is offline</faultstring></soap:Fault>'), XML
    end)
    local r = post({ item = "book", customer_id = 2 })
    expect(r.status).to_be(502)
    expect(r.json).to_equal({ error = "crm: crm database is offline", kind = "soap" })
  end)
  it("is a 502 when the CRM answers garbage", function()
    stub.upstream("crm", function() return 200, "<html>oops</html>", XML end)
    local r = post({ item = "book", customer_id = 2 })
    expect(r.status).to_be(502)
    expect(r.json.kind).to_be("malformed")
    expect(r.body:find("<", 1, true)).to_be_nil()
  end)
end)

describe("GET /v1/orders/:id", function()
  it("wants a token and a positive integer id", function()
    expect(request("GET", "/v1/orders/1").status).to_be(401)
    expect(request("GET", "/v1/orders/abc", { headers = AUTH }).status).to_be(400)
    expect(request("GET", "/v1/orders/0", { headers = AUTH }).status).to_be(400)
  end)
end)

local function gql(query)
  return request("POST", "/graphql", { body = { query = query },
                                       headers = { accept = "application/json" } })
end

describe("GraphQL: orders", function()
  it("answers no ids without a call, and refuses more than 50", function()
    expect(gql("{ orders(ids: []) { id } }").json).to_equal({ data = { orders = {} } })
    local many = {}
    for i = 1, 51 do many[i] = tostring(i) end
    local r = gql("{ orders(ids: [" .. table.concat(many, ",") .. "]) { id } }")
    expect(r.json.errors[1].message).to_contain("at most 50")
  end)
  it("a bad id is a null order", function()
    expect(gql('{ order(id: "x") { id } }').json).to_equal({ data = { order = json.null } })
  end)
  it("refuses a subscription to a bad id before any stream", function()
    local r = request("POST", "/graphql", {
      body = { query = 'subscription { orderUpdated(id: "-1") { id } }' },
      headers = { accept = "text/event-stream" } })
    expect(r.status).to_be(400)
    expect(r.body).to_contain("positive integer")
  end)
end)

describe("the payment webhook", function()
  it("refuses an unsigned event", function()
    local r = request("POST", "/hooks/stripe", { body = { id = "evt_1", type = "payment_intent.succeeded" } })
    expect(r.status).to_be(401)
  end)
end)

describe("the shop page", function()
  it("is one HTML page that opens /ws/orders", function()
    local r = request("GET", "/shop")
    expect(r.status).to_be(200)
    expect(r.headers["content-type"]).to_match("^text/html")
    expect(r.headers["referrer-policy"]).to_be("no-referrer")
    expect(r.body).to_contain("/ws/orders?access_token=")
  end)
end)
