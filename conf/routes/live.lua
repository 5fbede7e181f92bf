-- Live orders: every change of an order (created by POST /v1/orders in
-- orders.lua, paid by the payment webhook in webhooks.lua) is published on
-- the hub channel "orders" by the orders service (orders_grpc.lua), and the
-- WebSocket and SSE clients here see it at once (doc/websocket.md):
--   {"event":"order.created","order":{"id":1,"item":"book",...,"status":"PENDING"}}
--
--   websocat "ws://127.0.0.1:8080/ws/orders?access_token=$(scripts/demo-token)"
--   curl -N -H "Authorization: Bearer $(scripts/demo-token)" http://127.0.0.1:8080/events/orders
--   curl -X POST -H "Authorization: Bearer $(scripts/demo-token)" \
--        -d '{"item":"book","quantity":1,"customer_id":2}' http://127.0.0.1:8080/v1/orders

websocket.endpoint("/ws/orders", {
  jwt = true,
  channels = { "orders" },
  ping_interval = 20, ping_timeout = 10,
  on_connect = function(req) return { user = req.consumer } end,
  on_message = function(conn, msg)
    -- a client may say hello; the orders come from the hub
    conn:send(json.encode({ hello = conn.identity.user }))
  end,
})

sse.endpoint("/events/orders", { channels = { "orders" }, jwt = true })
