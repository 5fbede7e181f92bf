-- The shop's public API: /v1/orders through the gateway (a JWT, a rate
-- limit), in front of two internal services: the legacy CRM (SOAP,
-- scripts/demo-crm) says whether the customer exists, then the orders
-- service (gRPC, conf/routes/orders_grpc.lua) creates the order, which
-- publishes it to the live dashboards (/ws/orders, /shop).
--
--   TOKEN=$(scripts/demo-token)
--   curl -H "Authorization: Bearer $TOKEN" -d '{"item":"book","quantity":2,"customer_id":2}' \
--        http://127.0.0.1:8080/v1/orders
--   curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8080/v1/orders/1
--
-- The request's x-request-id and traceparent go on to both calls, so the
-- access log and the CRM's log tie the hops together.

local crm = soap.client("crm")                -- the service named in conf/portico.conf

-- the gateway's policies for both routes: a JWT, and one bucket of 50
-- requests a second per consumer
local function gated(summary)
  return { jwt = true, rate = { limit = 50, period = 1, key = "consumer", name = "orders" },
           summary = summary }
end

-- the order as the hub publishes it: payment_id and amount once paid
local function view(o)
  local paid = o.payment_id ~= nil and o.payment_id ~= ""
  return { id = o.id, item = o.item, quantity = o.quantity, status = o.status,
           customer_id = o.customer_id, created_at = o.created_at,
           payment_id = paid and o.payment_id or nil, amount = paid and o.amount or nil }
end

-- a failed call as an HTTP status and a JSON error
local SOAP_STATUS = { transport = 503, timeout = 504 }
local GRPC_STATUS = { UNAVAILABLE = 503, DEADLINE_EXCEEDED = 504, INVALID_ARGUMENT = 400,
                      NOT_FOUND = 404 }

local function grpc_fail(err)
  return GRPC_STATUS[err.status] or 502,
         { error = "orders service: " .. err.message, status = err.status }
end

local function int_in(v, lo, hi)
  local n = math.type(v) and math.tointeger(v)
  return n and n >= lo and n <= hi and n or nil
end

route.post("/v1/orders", function(req)
  local body, err = req:json()
  if type(body) ~= "table" or body[1] ~= nil then
    return 400, { error = err or "a JSON object, please" }
  end
  local item = body.item
  if type(item) ~= "string" or item == "" or #item > 200 then
    return 400, { error = "item: a string of 1 to 200 bytes" }
  end
  local quantity = body.quantity == nil and 1 or int_in(body.quantity, 1, 1000)
  if not quantity then return 400, { error = "quantity: an integer from 1 to 1000" } end
  local customer_id = int_in(body.customer_id, 1, 2^53)
  if not customer_id then return 400, { error = "customer_id: a positive integer" } end

  -- 1. the legacy CRM (SOAP): does the customer exist?
  local c, fault = crm:GetCustomer({ customerId = customer_id })
  if fault then
    local d = fault.detail
    if fault.kind == "soap" and type(d) == "table" and (d.CustomerNotFound or d.customerId) then
      return 422, { error = "customer " .. customer_id .. " not found" }
    end
    log.warn(("crm: GetCustomer %d: %s: %s"):format(customer_id, fault.kind, fault.reason))
    return SOAP_STATUS[fault.kind] or 502, { error = "crm: " .. fault.reason, kind = fault.kind }
  end

  -- 2. the orders service (gRPC), which publishes the new order on the hub
  local o, gerr = grpc.call("orders", "orders.v1.Orders/Create",
                            { item = item, quantity = quantity, customer_id = customer_id },
                            { timeout = 3 })
  if not o then return grpc_fail(gerr) end
  local cu = c.customer
  return 201, { order = view(o),
                customer = { id = cu.id, name = cu.name, email = cu.email, tier = cu.tier } }
end, gated("Create an order: the customer checked by the CRM (SOAP), the order made by orders.v1.Orders (gRPC)"))

route.get("/v1/orders/:id", function(req)
  local id = int_in(tonumber(req.params.id), 1, 2^53)
  if not id then return 400, { error = "id must be a positive integer" } end
  local o, err = grpc.call("orders", "orders.v1.Orders/Get", { id = id }, { timeout = 3 })
  if not o then
    if err.status == "NOT_FOUND" then return 404, { error = "order " .. id .. " not found" } end
    return grpc_fail(err)
  end
  return { order = view(o) }
end, gated("An order, read from orders.v1.Orders (gRPC)"))
