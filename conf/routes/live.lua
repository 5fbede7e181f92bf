-- Live orders: a REST call publishes on the hub, WebSocket and SSE clients
-- see it at once (doc/websocket.md).
--
--   websocat "ws://127.0.0.1:8080/ws/orders?access_token=$(scripts/demo-token)"
--   curl -X POST -H "Authorization: Bearer $(scripts/demo-token)" \
--        -d '{"item":"book","qty":1}' http://127.0.0.1:8080/v1/orders

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

route.post("/v1/orders", function(req)
  local order = req:json()
  if type(order) ~= "table" then return 400, { error = "a JSON object, please" } end
  order.id = req.id   -- the request id: unique across workers and restarts
  order.by = req.consumer
  order.status = "NEW"
  local n = hub.publish("orders", order)
  return 201, { order = order, delivered_to = n }
end, { jwt = true, summary = "Create an order; pushed live to /ws/orders and /events/orders" })
