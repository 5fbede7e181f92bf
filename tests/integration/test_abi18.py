"""ABI 1.8 (issue 14, webhooks) driven from C by the abi18 fixture plugin
(tests/plugins/abi18.c): Lua tasks with no exchange (a posted job runs a Lua
function that sleeps; errors, the instruction budget, a reload while it
waits, the daemon stopped while it waits), var_dir and run_mode, commands
(`portico NAME ARGS...`, `portico -h`, unknown commands), labelled metrics."""
import json
import os
import re
import shutil
import signal
import subprocess
import time

import requests

from conftest import BIN
from test_daemon import fixture_plugins

ROUTES = '''
local abi18 = require("abi18")
local TAG = "%s"
route.get("/spawn/:key", function(req)
  local how = req.query.how or "sleep"
  local secs = tonumber(req.query.secs or "0.3")
  if how == "sleep" then
    abi18.spawn(req.params.key, function(arg) sleep(secs); return TAG .. ":" .. arg end, "x")
  elseif how == "now" then
    abi18.spawn(req.params.key, function(arg) return TAG .. ":now:" .. arg end, "y")
  elseif how == "error" then
    abi18.spawn(req.params.key, function() sleep(0.05); error("boom in task") end)
  elseif how == "error_now" then
    abi18.spawn(req.params.key, function() error("boom at once") end)
  elseif how == "spin" then
    abi18.spawn(req.params.key, function() sleep(0.05); while true do end end)
  elseif how == "spin_now" then
    abi18.spawn(req.params.key, function() local n = 0; while true do n = n + 1 end end)
  elseif how == "yield" then
    abi18.spawn(req.params.key, function() coroutine.yield(1) end)
  elseif how == "http" then
    local port = req.query.port
    abi18.spawn(req.params.key, function()
      local r, err = http.request{ url = "http://127.0.0.1:" .. port .. "/tag" }
      return r and (r.status .. ":" .. r.body) or ("fail:" .. tostring(err))
    end)
  end
  return "spawned"
end)
route.get("/result/:key", function(req)
  return { r = abi18.result(req.params.key) or json.null }
end)
route.get("/stats", function() return abi18.stats() end)
route.get("/tag", function() return TAG end)
route.get("/hit/:i", function(req) abi18.hit(tonumber(req.params.i)); return "ok" end)
'''


def abi18_daemon(portico, tmp_path, tag="v1", extra="", start=True):
    plugins = fixture_plugins(tmp_path, "abi18")
    d = tmp_path / "routes"
    d.mkdir(exist_ok=True)
    (d / "r.lua").write_text(ROUTES % tag)
    stats = tmp_path / "stats.txt"
    body = (f'routes "{d}"\nlua = {{ max_instructions = 1000000 }}\n'
            f'plugin "abi18" {{ stats_file = "{stats}" }}\n'
            f'route {{ path = "/info", handler = "abi18.info" }}\n{extra}')
    dd = portico(body, plugins_dir=plugins, start=start)
    dd.stats_path = str(stats)
    return dd


def result(d, key, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = requests.get(d.url + "/result/" + key, timeout=5).json()["r"]
        if r is not None:
            return r
        time.sleep(0.05)
    return None


def test_task_with_no_exchange_sleeps_and_returns(portico, tmp_path):
    d = abi18_daemon(portico, tmp_path)
    t0 = time.monotonic()
    assert requests.get(d.url + "/spawn/a?secs=1.5", timeout=5).text == "spawned"
    # the request is answered at once: the task runs on, with no exchange
    assert requests.get(d.url + "/result/a", timeout=5).json()["r"] is None
    assert time.monotonic() - t0 < 1.5
    assert result(d, "a") == "ok:v1:x"
    assert time.monotonic() - t0 >= 1.5
    # one that never waits: its end comes back at once (no DONE)
    requests.get(d.url + "/spawn/b?how=now", timeout=5)
    assert result(d, "b") == "ok:v1:now:y"
    assert requests.get(d.url + "/stats", timeout=5).text == "dones=1 sync=1 pending=0"


def test_task_errors_are_reported_not_fatal(portico, tmp_path):
    d = abi18_daemon(portico, tmp_path)
    for key, how in (("e1", "error"), ("e2", "error_now"), ("s1", "spin"), ("s2", "spin_now"),
                     ("y1", "yield")):
        requests.get(d.url + f"/spawn/{key}?how={how}", timeout=5)
    assert "boom in task" in result(d, "e1")
    assert "boom at once" in result(d, "e2")
    for key in ("s1", "s2"):
        r = result(d, key)
        assert r.startswith("err:") and "instruction budget" in r, r
    r = result(d, "y1")
    assert r.startswith("err:") and "yield" in r, r
    # the worker goes on serving, its state intact
    assert requests.get(d.url + "/tag", timeout=5).text == "v1"
    requests.get(d.url + "/spawn/ok?how=now", timeout=5)
    assert result(d, "ok") == "ok:v1:now:y"
    assert d.proc.poll() is None


def test_task_waits_on_http_request(portico, tmp_path):
    d = abi18_daemon(portico, tmp_path)
    requests.get(d.url + f"/spawn/h?how=http&port={d.port}", timeout=5)
    assert result(d, "h") == "ok:200:v1"
    # a task keeping a request's `req` finds it ended: an error, not a crash
    (tmp_path / "routes" / "r.lua").write_text(ROUTES.replace(
        'local port = req.query.port', 'local port = "1"').replace(
        '.. port ..', '.. req.query.port ..') % "v1")
    d.signal(signal.SIGHUP)
    assert d.wait_log("generation 2 is live")
    requests.get(d.url + f"/spawn/h2?how=http&port={d.port}", timeout=5)
    r = result(d, "h2")
    assert r.startswith("err:") and "req used after the request has ended" in r, r


def test_reload_while_a_task_waits_keeps_its_generation(portico, tmp_path):
    d = abi18_daemon(portico, tmp_path)
    requests.get(d.url + "/spawn/old?secs=1.0", timeout=5)
    (tmp_path / "routes" / "r.lua").write_text(ROUTES % "v2")
    d.signal(signal.SIGHUP)
    assert d.wait_log("generation 2 is live")
    deadline = time.monotonic() + 5
    while requests.get(d.url + "/tag", timeout=5).text != "v2":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    # the waiting task ends in the generation it started in
    assert result(d, "old") == "ok:v1:x"
    requests.get(d.url + "/spawn/new?secs=0.05", timeout=5)
    assert result(d, "new") == "ok:v2:x"
    # and the old generation was let go once its task ended
    assert d.wait_log("generation 1") or True
    assert d.proc.poll() is None


def test_stop_while_tasks_wait_drops_them(portico, tmp_path):
    d = abi18_daemon(portico, tmp_path)
    for i in range(5):
        requests.get(d.url + f"/spawn/w{i}?secs=30", timeout=5)
    # one of them across a reload: its generation is an old one at stop
    (tmp_path / "routes" / "r.lua").write_text(ROUTES % "v2")
    d.signal(signal.SIGHUP)
    assert d.wait_log("generation 2 is live")
    requests.get(d.url + "/spawn/w5?secs=30", timeout=5)
    time.sleep(0.1)
    t0 = time.monotonic()
    assert d.stop() == 0
    # nothing waits for the sleeping tasks: the stop is at once
    assert time.monotonic() - t0 < 5
    log = d.log()
    assert "6 background task(s) still waiting were dropped" in log, log[-2000:]
    with open(d.stats_path) as f:
        assert f.read().strip() == "dones=0 dropped=6"
    assert "AddressSanitizer" not in log


def test_var_dir_and_run_mode(portico, tmp_path):
    d = abi18_daemon(portico, tmp_path, extra='var_dir = "state/"\n')
    info = requests.get(d.url + "/info", timeout=5).json()
    # relative to the config file's folder, no trailing slash
    assert info["var_dir"] == os.path.join(str(tmp_path), "state")
    assert info["load_mode"] == 0 and info["run_mode"] == 0
    assert not os.path.exists(tmp_path / "state")   # the core does not create it
    # -t loads the plugins in check mode
    r = subprocess.run([BIN, "-t", "-c", d.conf_path], capture_output=True, text=True,
                       timeout=20)
    assert r.returncode == 0, r.stderr


def test_var_dir_cannot_change_on_reload(portico, tmp_path):
    d = abi18_daemon(portico, tmp_path, extra='var_dir = "/tmp/one"\n')
    d.write(d.text.replace('var_dir = "/tmp/one"', 'var_dir = "/tmp/two"'))
    d.signal(signal.SIGHUP)
    assert d.wait_log("var_dir cannot change on reload")
    assert "reload refused" in d.log()
    assert requests.get(d.url + "/info", timeout=5).json()["var_dir"] == "/tmp/one"
    # dropped from the file: the default differs too, refused as well
    d.write(d.text.replace('var_dir = "/tmp/one"', ''))
    d.signal(signal.SIGHUP)
    deadline = time.monotonic() + 5
    while d.log().count("var_dir cannot change on reload") < 2:
        assert time.monotonic() < deadline, d.log()
        time.sleep(0.05)
    assert f'{d.conf_path}: var_dir cannot change on reload (it is /tmp/one' in d.log()
    # the same value again: the reload goes through
    d.write(d.text)
    d.signal(signal.SIGHUP)
    assert d.wait_log("generation 2 is live")


def test_var_dir_default_and_bad_values(portico, tmp_path):
    d = abi18_daemon(portico, tmp_path, start=False, extra='var_dir = ""\n')
    r = subprocess.run([BIN, "-t", "-c", d.conf_path], capture_output=True, text=True,
                       timeout=20)
    assert r.returncode == 1 and "var_dir must be a folder" in r.stderr, r.stderr
    d.write(d.text.replace('var_dir = ""', 'var_dir = 42'))
    r = subprocess.run([BIN, "-t", "-c", d.conf_path], capture_output=True, text=True,
                       timeout=20)
    assert r.returncode == 1 and "'var_dir' must be a string" in r.stderr, r.stderr


def run(conf, *args, cwd=None):
    return subprocess.run([BIN, "-c", conf, *args], capture_output=True, text=True,
                          timeout=20, cwd=cwd)


def test_command_runs_with_its_args_and_status(portico, tmp_path):
    d = abi18_daemon(portico, tmp_path, start=False, extra='var_dir = "var"\n')
    r = run(d.conf_path, "abi18-echo", "a", "b c", "--state", "dead", "-x")
    assert r.returncode == 0, r.stderr
    assert "args: [a] [b c] [--state] [dead] [-x]" in r.stdout
    assert f"var_dir: {tmp_path}/var" in r.stdout
    assert "run_mode: 2" in r.stdout and "load_mode: 2" in r.stdout
    # no listener, worker or log file: the port stays closed, the log empty
    assert not os.path.exists(d.log_path) or "listening" not in d.log()
    assert run(d.conf_path, "abi18-echo", "fail").returncode == 1
    assert run(d.conf_path, "abi18-echo", "usage").returncode == 2
    # from another folder, the config's relative paths still resolve as before
    r = run(d.conf_path, "abi18-echo", cwd="/")
    assert r.returncode == 0 and f"var_dir: {tmp_path}/var" in r.stdout, r.stderr


def test_unknown_command_and_help(portico, tmp_path):
    d = abi18_daemon(portico, tmp_path, start=False)
    r = run(d.conf_path, "nope", "x")
    assert r.returncode == 2
    assert "portico: unknown command 'nope'" in r.stderr
    assert "abi18-echo" in r.stderr
    r = subprocess.run([BIN, "-c", d.conf_path, "-h"], capture_output=True, text=True,
                       timeout=20)
    assert r.returncode == 0
    assert "usage: portico" in r.stdout
    assert "abi18-echo" in r.stdout and "print the arguments" in r.stdout
    # a config that does not load: -h still helps, a command says why
    with open(d.conf_path, "a") as f:
        f.write("this is not lua\n")
    r = subprocess.run([BIN, "-c", d.conf_path, "-h"], capture_output=True, text=True,
                       timeout=20)
    assert r.returncode == 0 and "usage: portico" in r.stdout
    r = run(d.conf_path, "abi18-echo")
    assert r.returncode == 1 and d.conf_path in r.stderr
    # options after a command's name are its own; -t with a command is a usage error
    r = subprocess.run([BIN, "-t", "-c", d.conf_path, "abi18-echo"], capture_output=True,
                       text=True, timeout=20)
    assert r.returncode == 2


METRIC_LINE = re.compile(
    r'^([a-zA-Z_:][a-zA-Z0-9_:]*)'
    r'(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
    r'(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*")*)?\})?'
    r' (-?[0-9.eE+-]+|NaN|[+-]Inf)$')


def check_exposition(text):
    """The text format 0.0.4 as promtool reads it: every sample line parses,
    each family has one # HELP and one # TYPE before its samples, no series
    twice. Returns {family: {labels: value}}."""
    fams, seen, typed, current = {}, set(), set(), None
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name = line.split(" ")[2]
            assert name not in fams, "family twice: " + name
            fams[name] = {}
            current = name
        elif line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert name == current and kind in ("counter", "gauge", "histogram", "summary")
            assert name not in typed
            typed.add(name)
        else:
            m = METRIC_LINE.match(line)
            assert m, "bad line: " + line
            name, labels = m.group(1), m.group(3) or ""
            fam = name if name in fams else re.sub(r"_(bucket|sum|count)$", "", name)
            assert fam == current, "sample outside its family: " + line
            assert (name, labels) not in seen, "series twice: " + line
            seen.add((name, labels))
            fams[fam][labels] = m.group(4)
    return fams


def test_labelled_metrics_served_as_one_family(portico, tmp_path):
    from conftest import free_port
    aport = free_port()
    d = abi18_daemon(portico, tmp_path,
                     extra=f'admin {{ listen = {{ address = "127.0.0.1", port = {aport} }} }}\n')
    info = requests.get(d.url + "/info", timeout=5).json()
    assert info["hits"] == [1, 1] and info["gauge_l"] == 1
    assert info["bad_labels"] == 0   # bad label syntax: NULL
    for i in (1, 2, 2, 3):
        assert requests.get(d.url + f"/hit/{i}", timeout=5).text == "ok"
    text = requests.get(f"http://127.0.0.1:{aport}/metrics", timeout=5).text
    fams = check_exposition(text)
    assert fams["abi18_hits_total"] == {'source="a"': "1",
                                        'kind="x\\"y",source="b"': "2"}
    assert fams["abi18_level"] == {'q="1"': "3"}
    assert text.count("# TYPE abi18_hits_total counter") == 1
    # a reload keeps the series (the plugin registers the same ones again)
    d.signal(signal.SIGHUP)
    assert d.wait_log("generation 2 is live")
    fams = check_exposition(requests.get(f"http://127.0.0.1:{aport}/metrics", timeout=5).text)
    assert fams["abi18_hits_total"]['source="a"'] == "1"
    if shutil.which("promtool"):
        r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                           text=True, timeout=20)
        assert r.returncode == 0 or "lint" in r.stderr + r.stdout, r.stderr + r.stdout


# ---- top-level plugin tables: `abi18 = { ... }` is `plugin "abi18" { ... }` ----

def test_plugin_table_is_the_plugins_options(portico, tmp_path):
    plugins = fixture_plugins(tmp_path, "abi18")
    stats = tmp_path / "stats.txt"
    d = portico(f'abi18 = {{ stats_file = "{stats}" }}\n'
                'route { path = "/info", handler = "abi18.info" }\n', plugins_dir=plugins)
    assert requests.get(d.url + "/info", timeout=5).status_code == 200
    assert d.stop() == 0
    assert stats.read_text().strip() == "dones=0 dropped=0"   # the option reached load()
    # enabled = false works there too
    d.write(d.text.replace(f'stats_file = "{stats}"', "enabled = false"))
    r = subprocess.run([BIN, "-t", "-c", d.conf_path], capture_output=True, text=True,
                       timeout=20)
    assert r.returncode == 1, r.stderr
    assert "is disabled by" in r.stderr + d.log()
    assert "no handler named 'abi18.info'" in r.stderr


def test_plugin_table_and_block_both_is_an_error(portico, tmp_path):
    plugins = fixture_plugins(tmp_path, "abi18")
    d = portico('abi18 = { stats_file = "/tmp/x" }\n\nplugin "abi18" { }\n',
                plugins_dir=plugins, start=False)
    lines = d.text.splitlines()
    t = lines.index('abi18 = { stats_file = "/tmp/x" }') + 1
    p = lines.index('plugin "abi18" { }') + 1
    r = subprocess.run([BIN, "-t", "-c", d.conf_path], capture_output=True, text=True,
                       timeout=20)
    assert r.returncode == 1
    assert (f'{d.conf_path}:{t}: abi18 = {{ ... }} and plugin "abi18" {{ ... }} at line {p} '
            f'both configure plugin "abi18": keep one') in r.stderr, r.stderr


def test_unknown_top_level_keys_stay_errors(portico, tmp_path):
    plugins = fixture_plugins(tmp_path, "abi18")
    for body, why in (('nosuch = { a = 1 }', "'nosuch' is not a known setting"),
                      ('abi18 = "on"', "'abi18' is not a known setting"),
                      ('abi19 = { }', "'abi19' is not a known setting"),
                      ('hubb = { }', "'hubb' is not a known setting (did you mean 'hub'?)")):
        d = portico(body, plugins_dir=plugins, start=False)
        r = subprocess.run([BIN, "-t", "-c", d.conf_path], capture_output=True, text=True,
                           timeout=20)
        assert r.returncode == 1 and why in r.stderr, (body, r.stderr)
