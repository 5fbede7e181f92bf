-- The legacy ledger (a SOAP service: scripts/demo-ledger, conf/soap/ledger.wsdl)
-- behind JSON routes and a GraphQL field: callers never see XML or WSDL.
-- Try:  curl -s localhost:8080/v1/accounts/2
--       curl -s localhost:8080/v1/accounts/2/transactions?limit=3
--       curl -s localhost:8080/v1/accounts/404          (a fault -> 404 JSON)
--       curl -s localhost:8080/graphql -H 'content-type: application/json' \
--         -d '{"query":"{ account(id: 2) { owner balance transactions(limit: 2) { amount at } } }"}'
local graphql = require "graphql"
local ledger = soap.client("ledger")          -- the service named in conf/portico.conf

-- The ledger's AccountNotFound fault. The WSDL declares it (wsdl:fault), so
-- its detail comes decoded per the schema: { accountId = 404 }; a detail
-- that does not fit the schema comes generically: { AccountNotFound = {...} }.
local function not_found(fault)
  local d = fault.detail
  return fault.kind == "soap" and type(d) == "table" and (d.AccountNotFound or d.accountId) ~= nil
end

-- A fault as an HTTP status and a JSON error a caller can act on.
local STATUS = { invalid = 400, timeout = 504, transport = 503, http = 502, malformed = 502,
                 soap = 502 }
local function fail(fault, id)
  if not_found(fault) then
    return 404, { error = "account " .. id .. " not found" }
  end
  return STATUS[fault.kind] or 502, { error = "ledger: " .. fault.reason, kind = fault.kind }
end

local function account_id(text)
  local id = math.tointeger(tonumber(text))
  if not id or id < 1 then return nil end
  return id
end

route.get("/v1/accounts/:id", function(req)
  local id = account_id(req.params.id)
  if not id then return 400, { error = "id must be a positive integer" } end
  local r, fault = ledger:GetAccount({ accountId = id })
  if fault then return fail(fault, id) end
  return r.account                             -- { id, owner, balance, currency, status, opened }
end, { summary = "An account of the legacy ledger (a SOAP call), as JSON" })

route.get("/v1/accounts/:id/transactions", function(req)
  local id = account_id(req.params.id)
  if not id then return 400, { error = "id must be a positive integer" } end
  local limit = math.tointeger(tonumber(req.query.limit or 10))
  if not limit or limit < 0 or limit > 100 then
    return 400, { error = "limit must be an integer from 0 to 100" }
  end
  local r, fault = ledger:ListTransactions({ accountId = id, limit = limit })
  if fault then return fail(fault, id) end
  return { transactions = r.transaction }       -- maxOccurs="unbounded": always a list
end, { summary = "An account's latest transactions from the legacy ledger" })

-- GraphQL (conf/schema.graphql): Query.account and Account.transactions.
-- An unknown account is null; any other fault is a field error.
local function account_fields(a)
  return { id = tostring(a.id), owner = a.owner, balance = a.balance, currency = a.currency,
           status = a.status, opened = a.opened }
end

graphql.resolvers {
  Query = {
    account = function(_, args)
      local id = account_id(args.id)
      if not id then return nil end
      local r, fault = ledger:GetAccount({ accountId = id })
      if fault then
        if not_found(fault) then return nil end
        error("ledger: " .. fault.reason, 0)
      end
      return account_fields(r.account)
    end,
  },
  Account = {
    transactions = function(a, args)
      local r, fault = ledger:ListTransactions({ accountId = tonumber(a.id),
                                                 limit = args.limit })
      if fault then error("ledger: " .. fault.reason, 0) end
      local out = {}
      for i, t in ipairs(r.transaction) do
        out[i] = { id = tostring(t.id), amount = t.amount, at = t.at, memo = t.memo }
      end
      return out
    end,
  },
}
