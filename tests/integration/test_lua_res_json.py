"""res:json(status, value[, headers]): the answer in one call, as the SOAP
issue's example writes route handlers (`return res:json(502, {...})`)."""
import requests

ROUTES = r'''
route.get("/ok/:id", function(req, res)
  if req.params.id == "0" then return res:json(502, { error = "no such account" }) end
  res:json(200, { id = tonumber(req.params.id), tags = {} }, { ["x-from"] = "res" })
end)
route.get("/twice", function(req, res)
  res:json(200, { first = true })
  res:json(500, { second = true })   -- raises: the answer is gone already
end)
route.get("/bad", function(req, res) res:json(200, { f = function() end }) end)
route.get("/status", function(req, res) res:json(99, {}) end)
route.get("/text", function(req, res)
  res:header("content-type", "application/problem+json")
  res:json(400, { title = "bad" })
end)
'''


def test_res_json(portico, tmp_path):
    rdir = tmp_path / "routes"
    rdir.mkdir()
    (rdir / "r.lua").write_text(ROUTES)
    d = portico(f'routes "{rdir}"')
    r = requests.get(d.url + "/ok/7", timeout=5)
    assert r.status_code == 200 and r.json() == {"id": 7, "tags": {}} or r.json() == {"id": 7, "tags": []}
    assert r.headers["content-type"] == "application/json" and r.headers["x-from"] == "res"
    r = requests.get(d.url + "/ok/0", timeout=5)
    assert r.status_code == 502 and r.json() == {"error": "no such account"}
    r = requests.get(d.url + "/twice", timeout=5)
    assert r.status_code == 200 and r.json() == {"first": True}
    assert d.wait_log("res:json: the response has started")
    assert requests.get(d.url + "/bad", timeout=5).status_code == 500
    assert requests.get(d.url + "/status", timeout=5).status_code == 500
    r = requests.get(d.url + "/text", timeout=5)
    assert r.status_code == 400 and r.headers["content-type"] == "application/problem+json"
    assert requests.get(d.url + "/ok/3", timeout=5).json()["id"] == 3   # still serving
