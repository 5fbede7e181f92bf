-- The shop in GraphQL (conf/schema.graphql): orders from the gRPC service
-- (grpc.call), their customers from the legacy CRM (SOAP) in one call per
-- level, and orderUpdated live from the hub.
--
--   curl -s localhost:8080/graphql -H 'content-type: application/json' \
--     -d '{"query":"{ orders(ids: [1, 2]) { id status customer { name tier } } }"}'
--   curl -N localhost:8080/graphql -H 'accept: text/event-stream' -H 'content-type: application/json' \
--     -d '{"query":"subscription { orderUpdated { id status paymentId } }"}'
local graphql = require "graphql"
local crm = soap.client("crm")

-- Orders travel in the hub's shape ({ id, item, ..., customer_id, created_at },
-- see orders_grpc.lua); a hub message wraps one: { event, order }. The Order
-- fields read either.
local function field(key)
  return function(o) return (o.order or o)[key] end
end
local function id_of(text)
  local id = math.tointeger(tonumber(text))
  return id and id > 0 and id or nil
end

local function get_order(id)
  local o, err = grpc.call("orders", "orders.v1.Orders/Get", { id = id }, { timeout = 2 })
  if o then return o end
  if err.status == "NOT_FOUND" then return nil end
  error("orders service: " .. err.status .. ": " .. err.message, 0)
end

graphql.resolvers {
  Query = {
    order = function(_, args)
      local id = id_of(args.id)
      return id and get_order(id)
    end,
    orders = function(_, args)
      if #args.ids > 50 then error("at most 50 ids", 0) end
      local out = {}
      for i, text in ipairs(args.ids) do
        local id = id_of(text)
        out[i] = id and get_order(id) or json.null
      end
      return out
    end,
  },

  Order = {
    id = function(o) return tostring((o.order or o).id) end,
    createdAt = field "created_at",
    customerId = function(o)
      local c = (o.order or o).customer_id
      return c and c > 0 and tostring(c) or nil
    end,
    paymentId = function(o)
      local p = (o.order or o).payment_id
      return p ~= "" and p or nil
    end,
    amount = function(o)
      o = o.order or o
      return o.payment_id and o.payment_id ~= "" and o.amount or nil
    end,
    item = field "item", quantity = field "quantity", status = field "status",

    -- every order of the level at once: one GetCustomers for their customers
    customer = graphql.batch(function(orders)
      local ids, seen = {}, {}
      for _, o in ipairs(orders) do
        local c = (o.order or o).customer_id
        if c and c > 0 and not seen[c] then seen[c] = true; ids[#ids + 1] = c end
      end
      local by_id = {}
      for first = 1, #ids, 100 do           -- the CRM takes 100 ids a call
        local r, fault = crm:GetCustomers({ customerId = { table.unpack(ids, first, first + 99) } })
        if fault then error("crm: " .. fault.reason, 0) end
        for _, c in ipairs(r.customer) do by_id[c.id] = c end
      end
      local out = {}
      for i, o in ipairs(orders) do out[i] = by_id[(o.order or o).customer_id] or json.null end
      return out
    end),
  },

  Subscription = {
    -- the hub channel to follow: every order's changes, or one order's
    orderUpdated = function(_, args)
      if args.id == nil then return "orders" end
      local id = id_of(args.id)
      if not id then error("id must be a positive integer", 0) end
      return "orders." .. id
    end,
  },
}
