-- Webhooks (plugins/webhook, doc/webhooks.md): the payment provider's
-- Stripe-style events are verified, stored before the 200, and handled here
-- from the queue: a succeeded payment marks its order paid through the
-- orders service (gRPC, orders_grpc.lua), which tells the live dashboards.
-- A failure is retried with backoff, then the event is dead (listed, and
-- replayed after the fix, with the CLI).
--
--   scripts/webhook-sign stripe whsec_portico_demo_0123456789abcdef --order 7 \
--       http://127.0.0.1:8080/hooks/stripe
--   core/portico -c conf/portico.conf webhooks list

webhook.source("stripe", {
  path = "/hooks/stripe", scheme = "stripe",
  -- the real secret comes from the environment; the default is the demo's
  secrets = { env("STRIPE_WHSEC", "whsec_portico_demo_0123456789abcdef") },
  tolerance = 300,
  retry = { max = 5, base = 2, cap = 60 },
}, function(event)
  if event.type ~= "payment_intent.succeeded" then
    log.info(("webhook %s: %s ignored"):format(event.id, event.type))
    return                                          -- done: nothing to do
  end
  local obj = event.json and event.json.data and event.json.data.object
  if type(obj) ~= "table" then
    return false, "no data.object in the event"     -- retried, then dead
  end
  local meta = type(obj.metadata) == "table" and obj.metadata or {}
  local order_id = math.tointeger(tonumber(meta.order_id or ""))
  if not order_id or type(obj.id) ~= "string" then
    return false, "no metadata.order_id or payment id in the event"
  end
  -- idempotent: a redelivery (the same payment id) leaves the order as it is
  local o, err = grpc.call("orders", "orders.v1.Orders/MarkPaid",
                           { id = order_id, payment_id = obj.id,
                             amount = math.tointeger(obj.amount) or 0 },
                           { timeout = 5 })
  if not o then
    return false, ("MarkPaid order %d: %s"):format(order_id, tostring(err))
  end
end)
