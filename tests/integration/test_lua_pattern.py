"""Pattern matching (string.find/match/gmatch/gsub) in route scripts counts
against the request's instruction budget: a pattern that backtracks for ever
ends its request with 500 instead of stalling the worker."""
import subprocess
import time
import urllib.parse

import requests

from conftest import BIN
from test_lua import lua_daemon, scripts

HOSTILE = r'''
local s = ("a"):rep(3000)
local p = ".-.-.-.-b"
route.get("/find", function() return tostring(s:find(p)) end)
route.get("/find_fn", function() return tostring(string.find(s, p)) end)
route.get("/match", function() return tostring(s:match(p)) end)
route.get("/gmatch", function()
  local n = 0
  for _ in s:gmatch(p) do n = n + 1 end
  return tostring(n)
end)
route.get("/gsub", function() return tostring(s:gsub(p, "x")) end)
route.get("/gsub_fn", function() return tostring(s:gsub(p, function() return "x" end)) end)
route.get("/caught", function()
  -- a caught budget error leaves no budget: the script ends at its next steps
  local ok, err = pcall(string.find, s, p)
  local n = 0
  while true do n = n + 1 end
end)
route.get("/q", function(req)
  local subject = (req.query.c or "a"):rep(tonumber(req.query.n) or 3000)
  return tostring(subject:find(req.query.p))
end)
route.get("/ok", function()
  local t = {}
  t[#t + 1] = tostring(("hello world"):find("o w"))
  t[#t + 1] = tostring(("hello world"):find("l+"))
  t[#t + 1] = ("key=val"):match("(%w+)=(%w+)")
  t[#t + 1] = select(2, ("a,b,,c"):gsub(",", ";"))
  local words = {}
  for w in ("one two  three"):gmatch("%a+") do words[#words + 1] = w end
  t[#t + 1] = table.concat(words, "+")
  t[#t + 1] = ("hello"):gsub("l", { l = "L" })
  t[#t + 1] = ("abc"):gsub("%w", function(c) return c:upper() .. "." end)
  t[#t + 1] = string.format("%q", ("x"):rep(3))
  return table.concat(t, "|")
end)
'''


def assert_budget_500(d, path, marks):
    t0 = time.monotonic()
    r = requests.get(d.url + path, timeout=20)
    took = time.monotonic() - t0
    assert r.status_code == 500, (path, r.status_code, r.text)
    assert took < 10, (path, took)
    marks[0] += 1
    assert d.wait_log("instruction budget exceeded")
    # the worker is free again at once
    assert requests.get(d.url + "/ok", timeout=5).status_code == 200


def test_hostile_patterns_end_with_budget_error(portico, tmp_path):
    d = lua_daemon(portico, tmp_path, pat=HOSTILE)
    marks = [0]
    for path in ("/find", "/find_fn", "/match", "/gmatch", "/gsub", "/gsub_fn", "/caught"):
        assert_budget_500(d, path, marks)
    assert d.log().count("instruction budget exceeded") >= marks[0]
    assert d.proc.poll() is None


def test_pattern_from_the_query_string_is_budgeted(portico, tmp_path):
    d = lua_daemon(portico, tmp_path, pat=HOSTILE)
    for p in (".-.-.-.-b", "(.-)(.-)(.-)(.-)b", "a*a*a*a*a*b", "%f[%w].-.-.-c"):
        assert_budget_500(d, "/q?" + urllib.parse.urlencode({"p": p}), [0])
    # nested quantified captures and balanced matches on a longer subject
    assert_budget_500(d, "/q?" + urllib.parse.urlencode({"p": "(%b()).-.-.-x", "c": "()",
                                                           "n": "4000"}), [0])


def test_deep_and_malformed_patterns_are_errors_not_crashes(portico, tmp_path):
    d = lua_daemon(portico, tmp_path, pat=HOSTILE)
    cases = {
        "a?" * 300: "pattern too complex",
        "(" * 40: "too many captures",
        "[a": "missing ']'",
        "%": "ends with '%'",
        "%1": "invalid capture index",
        "a.)": "invalid pattern capture",
    }
    for p, msg in cases.items():
        r = requests.get(d.url + "/q?" + urllib.parse.urlencode({"p": p}), timeout=10)
        assert r.status_code == 500, p[:40]
        assert d.wait_log(msg), msg
    assert requests.get(d.url + "/ok", timeout=5).status_code == 200
    assert d.proc.poll() is None


def test_ordinary_patterns_still_work(portico, tmp_path):
    d = lua_daemon(portico, tmp_path, pat=HOSTILE)
    r = requests.get(d.url + "/ok", timeout=5)
    assert r.status_code == 200
    assert r.text == "5|3|key|3|one+two+three|heLLo|A.B.C.|\"xxx\"", r.text
    r = requests.get(d.url + "/q?" + urllib.parse.urlencode({"p": "a+$", "n": "10"}), timeout=5)
    assert r.text == "1"


def test_pattern_at_script_load_is_bounded(portico, tmp_path):
    # outside a request the steps count against the load limit
    routes = scripts(tmp_path, top='local x = ("a"):rep(3000):find(".-.-.-.-b")\n')
    d = portico(f'routes "{routes}"', start=False)
    t0 = time.monotonic()
    out = subprocess.run([BIN, "-t", "-c", d.conf_path], capture_output=True, text=True,
                         timeout=30)
    assert out.returncode != 0
    assert "script takes too long" in out.stdout + out.stderr
    assert time.monotonic() - t0 < 15


def test_config_file_has_no_string_functions(portico, tmp_path):
    # portico.conf is evaluated with no string library and no string
    # metatable: a pattern there is an error at once, not a hang
    d = portico('x = ("a"):rep(3000):find(".-.-.-.-b")', start=False)
    out = subprocess.run([BIN, "-t", "-c", d.conf_path], capture_output=True, text=True,
                         timeout=30)
    assert out.returncode != 0
    assert "attempt to index a string value" in out.stdout + out.stderr
