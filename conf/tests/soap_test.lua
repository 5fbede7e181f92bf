-- Tests of the SOAP adapter (conf/routes/soap.lua), the legacy ledger
-- stubbed: the stub answers SOAP envelopes as scripts/demo-ledger would.
-- core/portico -c conf/portico.conf test conf/tests/soap_test.lua

local ENV = '<?xml version="1.0" encoding="utf-8"?>' ..
  '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" ' ..
  'xmlns:l="urn:example:ledger" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">' ..
  '<soap:Body>%s</soap:Body></soap:Envelope>'
local XML = { ["content-type"] = "text/xml; charset=utf-8" }

local function account(id)
  return ENV:format('<l:GetAccountResponse><l:account><l:id>' .. id .. '</l:id>' ..
    '<l:owner>Ada Lovelace</l:owner><l:balance>1017.05</l:balance>' ..
    '<l:currency>EUR</l:currency><l:status>OPEN</l:status>' ..
    '<l:opened>2011-01-11T09:30:00Z</l:opened></l:account></l:GetAccountResponse>')
end

local function fault(code, reason, detail)
  return ENV:format('<soap:Fault><faultcode>soap:' .. code .. '</faultcode><faultstring>' ..
    reason .. '</faultstring>' .. (detail and ('<detail>' .. detail .. '</detail>') or '') ..
    '</soap:Fault>')
end

describe("GET /v1/accounts/:id", function()
  local seen
  before_each(function()
    seen = nil
    stub.upstream("ledger", function(req)
      seen = req
      local id = req.body:match("<[%w:]*accountId>(%d+)<")
      if id == "404" then
        return 500, fault("Client", "account 404 does not exist",
          '<l:AccountNotFound><l:accountId>404</l:accountId></l:AccountNotFound>'), XML
      elseif id == "500" then
        return 500, fault("Server", "ledger database is offline"), XML
      end
      return 200, account(id), XML
    end)
  end)

  it("calls GetAccount and answers JSON", function()
    local r = request("GET", "/v1/accounts/1")
    expect(r.status).to_be(200)
    expect(r.json).to_equal({ id = 1, owner = "Ada Lovelace", balance = 1017.05,
                              currency = "EUR", status = "OPEN",
                              opened = "2011-01-11T09:30:00Z" })
    expect(seen.method).to_be("POST")
    expect(seen.path).to_be("/ledger")
    expect(seen.body).to_contain("urn:example:ledger")
  end)

  it("turns AccountNotFound into a 404", function()
    local r = request("GET", "/v1/accounts/404")
    expect(r.status).to_be(404)
    expect(r.json).to_equal({ error = "account 404 not found" })
  end)

  it("turns another fault into a 502 with the ledger's reason", function()
    local r = request("GET", "/v1/accounts/500")
    expect(r.status).to_be(502)
    expect(r.json).to_equal({ error = "ledger: ledger database is offline", kind = "soap" })
  end)

  it("refuses a bad id without calling the ledger", function()
    expect(request("GET", "/v1/accounts/abc").status).to_be(400)
    expect(seen).to_be_nil()
  end)
end)

describe("a ledger that answers garbage", function()
  it("is a 502, never XML to the caller", function()
    stub.upstream("ledger", function() return 200, "<html>oops</html>", XML end)
    local r = request("GET", "/v1/accounts/2")
    expect(r.status).to_be(502)
    expect(r.json.kind).to_be("malformed")
    expect(r.body:find("<", 1, true)).to_be_nil()
  end)
end)
