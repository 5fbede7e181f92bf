-- Webhooks (plugins/webhook, doc/webhooks.md): Stripe-style payment events
-- are verified, stored before the 200, and handled here from the queue; the
-- handler pushes each paid order to the live dashboards (/ws/orders,
-- /events/orders in live.lua).
--
--   scripts/webhook-sign stripe  (see README: a signed curl)
--   core/portico -c conf/portico.conf webhooks list

webhook.source("stripe", {
  path = "/hooks/stripe", scheme = "stripe",
  -- the real secret comes from the environment; the default is the demo's
  secrets = { env("STRIPE_WHSEC", "whsec_portico_demo_0123456789abcdef") },
  tolerance = 300,
  retry = { max = 5, base = 2, cap = 60 },
}, function(event)
  local obj = event.json and event.json.data and event.json.data.object
  if type(obj) ~= "table" then
    return false, "no data.object in the event"   -- retried, then dead
  end
  hub.publish("orders", {
    webhook = event.id, type = event.type, id = obj.id,
    amount = obj.amount, currency = obj.currency, status = obj.status,
    attempt = event.attempt,
  })
end)
