-- orders.v1.Orders (conf/proto/orders.proto) served in Lua over gRPC, on the
-- same port as everything else (h2c here; h2 on a TLS listener). Orders live
-- in the shared dictionary, so every worker sees them. doc/grpc.md.
--
--   grpcurl -plaintext 127.0.0.1:8080 list                      (reflection)
--   grpcurl -plaintext -d '{"item":"book","quantity":2}' 127.0.0.1:8080 orders.v1.Orders/Create
--   grpcurl -plaintext -d '{"id":1}' 127.0.0.1:8080 orders.v1.Orders/Watch

local function load(id)
  local s = shared.get("grpc.order." .. tostring(id))
  return s and json.decode(s)
end

local function save(order)
  shared.set("grpc.order." .. tostring(order.id), json.encode(order))
end

grpc.service("orders.v1.Orders", {
  Create = function(req, ctx)
    if req.item == "" then
      error(grpc.error("INVALID_ARGUMENT", "item is required"))
    end
    local order = {
      id = shared.incr("grpc.order.seq", 1, 0),
      item = req.item,
      quantity = req.quantity > 0 and req.quantity or 1,
      status = "PENDING",
      created_at = os.date("!%Y-%m-%dT%H:%M:%SZ"),
    }
    save(order)
    hub.publish("orders", order)        -- the WebSocket and SSE demo see it too
    return order
  end,

  Get = function(req, ctx)
    local order = load(req.id)
    if not order then error(grpc.error("NOT_FOUND", "no order " .. req.id)) end
    return order
  end,

  -- server streaming: the status moves on once a second until SHIPPED
  Watch = function(req, ctx)
    local order = load(req.id)
    if not order then error(grpc.error("NOT_FOUND", "no order " .. req.id)) end
    local steps = { PENDING = "PAID", PAID = "SHIPPED" }
    local seq = 1
    ctx:send({ id = order.id, status = order.status, seq = seq })
    while steps[order.status] and not ctx:cancelled() do
      sleep(1)
      order.status = steps[order.status]
      save(order)
      seq = seq + 1
      ctx:send({ id = order.id, status = order.status, seq = seq })
    end
  end,
})
