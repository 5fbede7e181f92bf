-- orders.v1.Orders (conf/proto/orders.proto) served in Lua over gRPC, on the
-- same port as everything else (h2c here; h2 on a TLS listener). Orders live
-- in the shared dictionary, so every worker sees them. doc/grpc.md.
--
--   grpcurl -plaintext 127.0.0.1:8080 list                      (reflection)
--   grpcurl -plaintext -d '{"item":"book","quantity":2,"customer_id":2}' 127.0.0.1:8080 orders.v1.Orders/Create
--   grpcurl -plaintext -d '{"id":1}' 127.0.0.1:8080 orders.v1.Orders/Watch
--
-- Every change is published on the hub channel "orders" (the dashboards:
-- /ws/orders, /events/orders, /shop, GraphQL's orderUpdated) as
--   {"event": "order.created" | "order.paid", "order": {...}}
-- and on "orders.<id>" too, so a subscriber may follow one order.

local function load(id)
  local s = shared.get("grpc.order." .. tostring(id))
  return s and json.decode(s)
end

local function save(order)
  local ok, err = shared.set("grpc.order." .. tostring(order.id), json.encode(order))
  if not ok then error(grpc.error("UNAVAILABLE", "cannot store the order: " .. tostring(err))) end
end

local function publish(event, order)
  local msg = json.encode({ event = event, order = order })   -- encoded once, sent twice
  hub.publish("orders", msg)
  hub.publish("orders." .. order.id, msg)
end

local function get(id)
  local order = load(id)
  if not order then error(grpc.error("NOT_FOUND", "no order " .. id)) end
  return order
end

local DONE = { PAID = true, SHIPPED = true }   -- Watch ends at these

grpc.service("orders.v1.Orders", {
  Create = function(req, ctx)
    if req.item == "" or #req.item > 200 then
      error(grpc.error("INVALID_ARGUMENT", "item: 1 to 200 bytes"))
    end
    if req.quantity < 0 or req.quantity > 1000 or req.customer_id < 0 then
      error(grpc.error("INVALID_ARGUMENT", "quantity 1..1000 and customer_id >= 0, please"))
    end
    local order = {
      id = shared.incr("grpc.order.seq", 1, 0),
      item = req.item,
      quantity = req.quantity > 0 and req.quantity or 1,
      status = "PENDING",
      customer_id = req.customer_id,
      created_at = os.date("!%Y-%m-%dT%H:%M:%SZ"),
    }
    save(order)
    publish("order.created", order)
    return order
  end,

  Get = function(req, ctx) return get(req.id) end,

  -- PENDING -> PAID, once: the first payment id claims the order (shared.add
  -- is atomic across workers); the same id again is a no-op, so a webhook
  -- delivered twice marks it paid once.
  MarkPaid = function(req, ctx)
    if req.payment_id == "" or #req.payment_id > 200 or req.amount < 0 then
      error(grpc.error("INVALID_ARGUMENT", "payment_id (1 to 200 bytes) and amount >= 0, please"))
    end
    local order = get(req.id)
    if not shared.add("grpc.order.paid." .. order.id, req.payment_id) then
      local by = shared.get("grpc.order.paid." .. order.id)
      if by ~= req.payment_id then
        error(grpc.error("FAILED_PRECONDITION",
                         "order " .. order.id .. " is already paid by " .. tostring(by)))
      end
      return order                       -- the same payment again: unchanged
    end
    order.status, order.payment_id, order.amount = "PAID", req.payment_id, req.amount
    save(order)
    publish("order.paid", order)
    return order
  end,

  -- server streaming: the order's status changes as they happen (read from
  -- the shared dictionary, which every worker writes), until it is paid
  Watch = function(req, ctx)
    local order = get(req.id)
    local seq = 1
    ctx:send({ id = order.id, status = order.status, seq = seq })
    while not DONE[order.status] and not ctx:cancelled() do
      sleep(0.2)
      local now = load(req.id)
      if not now then return end         -- gone (a restart of a test): nothing more to say
      if now.status ~= order.status then
        order, seq = now, seq + 1
        if not ctx:send({ id = order.id, status = order.status, seq = seq }) then return end
      end
    end
  end,
})
