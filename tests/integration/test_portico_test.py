"""`portico test` (issue 16 item 4): *_test.lua files run in process against
the configured routes, with stubbed upstreams; TAP or a summary line; the
exit status says whether everything passed. The demo's own tests pass."""
import os
import subprocess

import pytest

from conftest import BIN, BUILDDIR, SRCDIR

PLUGINS = os.path.join(BUILDDIR, "plugins", ".libs")

CONF = """workers = 2
plugins_dir = "{plugins}"
listen {{ address = "0.0.0.0", port = 80 }}
log = {{ level = "info", file = "/nonexistent/error.log" }}
pid_file = "/nonexistent/portico.pid"
var_dir = "/nonexistent/var"
upstream "users" {{ servers = {{ "10.255.255.1:9001" }}, timeout = {{ connect = 1, read = 3 }} }}
routes "routes"
"""

ROUTES = r'''
route.get("/v1/hello/:name", function(req) return { hello = req.params.name } end)
route.any("/api/*rest", proxy(upstream "users", { strip_prefix = "/api" }))
route.get("/v1/spin", function() while true do end end)
'''

PASSING = r'''
describe("hello", function()
  it("greets by name", function()
    local r = request("GET", "/v1/hello/bob")
    expect(r.status).to_be(200)
    expect(r.json).to_equal({ hello = "bob" })
  end)
end)
describe("the users upstream", function()
  before_each(function()
    stub.upstream("users", function(req)
      if req.method ~= "POST" then return 404, "no" end
      return 201, { got = json.decode(req.body), path = req.path }, { ["x-stub"] = "yes" }
    end)
  end)
  it("is answered by the stub", function()
    local r = request("POST", "/api/users", { body = { name = "ann" } })
    expect(r.status).to_be(201)
    expect(r.headers["x-stub"]).to_be("yes")
    expect(r.json).to_equal({ got = { name = "ann" }, path = "/users" })
  end)
  it("still runs the budget: a runaway handler is a 500, not a hang", function()
    expect(request("GET", "/v1/spin").status).to_be(500)
  end)
end)
'''

FAILING = r'''
it("fails", function() expect(request("GET", "/v1/hello/x").json.hello).to_be("y") end)
it("passes", function() expect(1).to_be(1) end)
it("raises", function() error("boom") end)
'''


def make(tmp_path, tests):
    (tmp_path / "routes").mkdir()
    (tmp_path / "routes" / "app.lua").write_text(ROUTES)
    (tmp_path / "tests").mkdir()
    for name, text in tests.items():
        (tmp_path / "tests" / name).write_text(text)
    (tmp_path / "portico.conf").write_text(CONF.format(plugins=PLUGINS))


def run(tmp_path, *args):
    return subprocess.run([BIN, "-c", "portico.conf", "test", *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)


def test_passing_tests_with_stubs_and_the_budget(tmp_path):
    make(tmp_path, {"app_test.lua": PASSING})
    r = run(tmp_path, "tests")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip().splitlines()[-1] == "3 passed, 0 failed"
    # the config's port 80, log file, pid file and var_dir were not touched
    assert not os.path.exists("/nonexistent")


def test_failures_are_reported_and_the_exit_status_says_so(tmp_path):
    make(tmp_path, {"a_test.lua": PASSING, "b_test.lua": FAILING, "notatest.lua": "error()"})
    r = run(tmp_path, "tests", "--tap")
    assert r.returncode == 1, r.stdout + r.stderr
    out = r.stdout
    assert out.startswith("TAP version 13\n")
    assert "not ok 4 - fails" in out and 'expected "x" to be "y"' in out
    assert "ok 5 - passes" in out and "not ok 6 - raises" in out and "boom" in out
    assert "1..6" in out and out.strip().splitlines()[-1] == "4 passed, 2 failed"
    r = run(tmp_path, "tests/b_test.lua")   # one file
    assert r.returncode == 1 and r.stdout.strip().splitlines()[-1] == "1 passed, 2 failed"


def test_a_broken_test_file_or_no_tests(tmp_path):
    make(tmp_path, {"x_test.lua": "this is not lua"})
    r = run(tmp_path, "tests")
    assert r.returncode == 1 and "x_test.lua" in r.stdout
    assert r.stdout.strip().splitlines()[-1] == "0 passed, 1 failed"
    (tmp_path / "empty").mkdir()
    r = run(tmp_path, "empty")
    assert r.returncode == 2 and "no *_test.lua" in r.stderr
    r = run(tmp_path, "--nope")
    assert r.returncode == 2
    r = run(tmp_path, "missing-dir")
    assert r.returncode == 2


def test_a_stub_for_an_unknown_upstream_is_an_error(tmp_path):
    make(tmp_path, {"s_test.lua": 'it("x", function() stub.upstream("nope", function() end) end)'})
    r = run(tmp_path, "tests")
    assert r.returncode == 1 and 'no HTTP/1.1 upstream named "nope"' in r.stdout


def test_a_config_error_is_reported(tmp_path):
    make(tmp_path, {"a_test.lua": PASSING})
    (tmp_path / "portico.conf").write_text("workers = 'many'\n")
    r = run(tmp_path, "tests")
    assert r.returncode == 1 and "portico.conf:1" in r.stderr


@pytest.mark.skipif(not os.path.exists(os.path.join(PLUGINS, "grpc.so")),
                    reason="the plugins are not built")
def test_the_demo_ships_with_passing_tests():
    r = subprocess.run([BIN, "-c", "conf/portico.conf", "test", "conf/tests"], cwd=SRCDIR,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    last = r.stdout.strip().splitlines()[-1]
    assert last.endswith(" passed, 0 failed") and not last.startswith("0 ")
