"""Operations hardening (issue 11): `routes` naming a file, the worker
watchdog, the status logged for requests cut at shutdown, and an error log
that keeps one event on one line."""
import os
import re
import shutil
import signal
import subprocess
import threading
import time

import requests

from conftest import BIN, TEST_PLUGIN_DIR

# every line the error log writes starts like this; anything else is the
# tail of an event that spilled over several lines
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \[(error|warn|info|debug)\] ")
BODY_LINE = 7   # the first line of the body in the conftest Daemon's config


def run_t(conf_path):
    return subprocess.run([BIN, "-t", "-c", conf_path], capture_output=True, text=True,
                          timeout=20)


def spin_plugins(tmp_path):
    d = tmp_path / "plugins"
    d.mkdir(exist_ok=True)
    shutil.copy(os.path.join(TEST_PLUGIN_DIR, "spin.so"), d / "spin.so")
    return str(d)


def assert_one_line_per_event(text):
    for line in text.splitlines():
        assert LOG_LINE.match(line), "a log event spans several lines: %r\n%s" % (line, text)


# ---- routes "file" ----------------------------------------------------------

APP = '''route.get("/a", function() return "from a" end)
route.get("/b", function() return "from b" end)
'''


def test_routes_naming_a_file_serves_its_routes(portico, tmp_path):
    app = tmp_path / "app.lua"
    app.write_text(APP)
    d = portico(f'routes "{app}"')
    assert requests.get(d.url + "/a", timeout=5).text == "from a"
    assert requests.get(d.url + "/b", timeout=5).text == "from b"


def test_routes_file_with_any_name_loads(portico, tmp_path):
    app = tmp_path / "routes.conf"      # named explicitly: no *.lua filter
    app.write_text(APP)
    d = portico(f'routes "{app}"')
    assert requests.get(d.url + "/a", timeout=5).text == "from a"


def test_check_counts_script_routes(portico, tmp_path):
    app = tmp_path / "app.lua"
    app.write_text(APP)
    d = portico(f'routes "{app}"\n'
                'route { path = "/s", handler = "static", body = "s" }', start=False)
    out = run_t(d.conf_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "3 route(s)" in out.stdout, out.stdout
    assert "1 in the config" in out.stdout and "2 from 1 route script(s)" in out.stdout, out.stdout


def test_check_counts_a_folder_of_scripts(portico, tmp_path):
    folder = tmp_path / "routes"
    folder.mkdir()
    (folder / "a.lua").write_text('route.get("/a", function() return "a" end)\n')
    (folder / "b.lua").write_text('route.get("/b", function() return "b" end)\n')
    (folder / "notes.txt").write_text('this is not a script(\n')
    d = portico(f'routes "{folder}"', start=False)
    out = run_t(d.conf_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "2 route(s)" in out.stdout and "2 from 2 route script(s)" in out.stdout, out.stdout


def test_routes_missing_path_is_an_error_with_line(portico, tmp_path):
    d = portico(f'\nroutes "{tmp_path}/nope.lua"', start=False)
    out = run_t(d.conf_path)
    assert out.returncode == 1
    assert f"portico.conf:{BODY_LINE + 1}: routes: cannot read {tmp_path}/nope.lua" in out.stderr, \
        out.stderr


def test_routes_neither_file_nor_folder_is_an_error_with_line(portico, tmp_path):
    fifo = tmp_path / "app.fifo"
    os.mkfifo(fifo)
    d = portico(f'routes "{fifo}"', start=False)
    out = run_t(d.conf_path)
    assert out.returncode == 1, out.stdout
    assert f"portico.conf:{BODY_LINE}: routes: {fifo} is neither a file nor a folder" in out.stderr, \
        out.stderr


# ---- the watchdog -----------------------------------------------------------

def stuck_daemon(portico, tmp_path, body, timeout=1):
    return portico(f'watchdog_timeout = {timeout}\n{body}', plugins_dir=spin_plugins(tmp_path))


def get_in_thread(url, results, timeout=15):
    def run():
        try:
            results.append(requests.get(url, timeout=timeout))
        except Exception as e:   # noqa: BLE001 - reported by the test
            results.append(e)
    t = threading.Thread(target=run)
    t.start()
    return t


def test_watchdog_names_a_worker_stuck_in_a_lua_route(portico, tmp_path):
    app = tmp_path / "app.lua"
    app.write_text('local spin = require("spin")\n'
                   'route.get("/stuck/:n", function(req) spin.busy(3) return "done" end)\n')
    d = stuck_daemon(portico, tmp_path, f'routes "{app}"')
    results = []
    t = get_in_thread(d.url + "/stuck/7", results)
    assert d.wait_log("stuck for", timeout=6), d.log()
    t.join(15)
    assert results and not isinstance(results[0], Exception), results
    assert results[0].text == "done"
    assert d.wait_log("recovered", timeout=4), d.log()
    log = d.log()
    stuck = [l for l in log.splitlines() if "stuck for" in l]
    assert len(stuck) == 1, log           # once per stall, not once per check
    line = stuck[0]
    assert "[error]" in line and "worker 0" in line
    assert "GET /stuck/7" in line and "route /stuck/:n" in line
    assert f"{app}:2" in line and "handler lua" in line, line
    assert "Lua running at" not in line   # stuck in C: the hook never ran
    # the daemon serves again, and is not reported again
    assert requests.get(d.url + "/nothing", timeout=5).status_code == 404
    time.sleep(1.5)
    assert len([l for l in d.log().splitlines() if "stuck for" in l]) == 1


def test_watchdog_names_the_lua_line_of_a_script_looping_in_lua(portico, tmp_path):
    app = tmp_path / "app.lua"
    app.write_text('route.get("/loop", function()\n'
                   '  local t = os.time()\n'
                   '  while os.time() - t < 3 do end\n'     # bounded: 2 to 3 s
                   '  return "looped"\n'
                   'end)\n')
    d = stuck_daemon(portico, tmp_path, f'lua = {{ max_instructions = 0 }}\nroutes "{app}"')
    results = []
    t = get_in_thread(d.url + "/loop", results)
    assert d.wait_log("stuck for", timeout=6), d.log()
    t.join(15)
    assert results and results[0].text == "looped", results
    line = [l for l in d.log().splitlines() if "stuck for" in l][0]
    assert f"route /loop at {app}:1" in line and "handler lua" in line, line
    assert line.endswith(f"Lua running at {app}:3"), line
    assert d.wait_log("recovered", timeout=4)


def test_watchdog_names_a_c_handler_and_its_config_line(portico, tmp_path):
    d = stuck_daemon(portico, tmp_path,
                     'route { path = "/spin", handler = "spin.busy", seconds = 3 }')
    results = []
    t = get_in_thread(d.url + "/spin?x=1", results)
    assert d.wait_log("stuck for", timeout=6), d.log()
    t.join(15)
    assert results and results[0].text == "spun\n", results
    line = [l for l in d.log().splitlines() if "stuck for" in l][0]
    assert "GET /spin" in line and "route /spin" in line
    assert f"portico.conf:{BODY_LINE + 1}" in line and "handler spin.busy" in line, line
    assert d.wait_log("recovered", timeout=4)
    assert requests.get(d.url + "/spin-not", timeout=5).status_code == 404


def test_watchdog_sees_each_worker(portico, tmp_path):
    d = portico('watchdog_timeout = 1\n'
                'route { path = "/spin", handler = "spin.busy", seconds = 2.5 }',
                plugins_dir=spin_plugins(tmp_path), workers=2)
    results = []
    # The kernel spreads connections over the workers by hash, so one worker
    # may get five of the six 2.5 s requests in a row (12.5 s, more under
    # ASan): the client waits long enough for the worst spread.
    threads = [get_in_thread(d.url + "/spin", results, timeout=45) for _ in range(6)]
    for t in threads:
        t.join(50)
    assert len(results) == 6 and all(r.text == "spun\n" for r in results), results
    assert d.wait_log("recovered", timeout=4)
    lines = [l for l in d.log().splitlines() if "stuck for" in l]
    assert lines and all("GET /spin" in l for l in lines), d.log()


def test_watchdog_off_with_zero(portico, tmp_path):
    d = stuck_daemon(portico, tmp_path,
                     'route { path = "/spin", handler = "spin.busy", seconds = 2 }', timeout=0)
    assert requests.get(d.url + "/spin", timeout=10).text == "spun\n"
    time.sleep(0.6)
    assert "stuck for" not in d.log()


def test_watchdog_timeout_must_be_zero_or_a_second(portico):
    for value, why in (("0.2", "watchdog_timeout must be 0 (off) or at least 1 second"),
                       ('"10"', "'watchdog_timeout' must be a number"),
                       ("-1", "'watchdog_timeout' must be between")):
        d = portico(f"watchdog_timeout = {value}", start=False)
        out = run_t(d.conf_path)
        assert out.returncode == 1, value
        assert f"portico.conf:{BODY_LINE}: " in out.stderr and why in out.stderr, out.stderr


# ---- the status of a request cut at shutdown --------------------------------

def test_request_cut_at_shutdown_is_logged_as_503(portico, tmp_path):
    app = tmp_path / "app.lua"
    app.write_text('route.get("/slow", function() sleep(5) return "late" end)\n'
                   'route.get("/stream", function(req, res) res:write("a") sleep(5) end)\n'
                   'route.get("/fast", function() return "ok" end)\n')
    alog = tmp_path / "access.log"
    d = portico(f'shutdown_timeout = 0.5\naccess_log = {{ file = "{alog}", '
                f'format = "$method $path $status" }}\nroutes "{app}"')
    assert requests.get(d.url + "/fast", timeout=5).text == "ok"
    results = []
    t = get_in_thread(d.url + "/slow", results, timeout=10)
    t2 = get_in_thread(d.url + "/stream", results, timeout=10)
    time.sleep(0.5)
    t0 = time.monotonic()
    d.signal(signal.SIGTERM)
    assert d.proc.wait(10) == 0
    assert time.monotonic() - t0 < 4
    t.join(10)
    t2.join(10)
    lines = alog.read_text().splitlines()
    assert "GET /fast 200" in lines
    assert "GET /slow 503" in lines, lines
    assert "GET /stream 200" in lines, lines   # the status its client already got


def test_client_that_leaves_is_still_499(portico, tmp_path):
    import socket
    app = tmp_path / "app.lua"
    app.write_text('route.get("/slow", function() sleep(1) return "late" end)\n')
    alog = tmp_path / "access.log"
    d = portico(f'access_log = {{ file = "{alog}", format = "$method $path $status" }}\n'
                f'routes "{app}"')
    s = socket.create_connection(("127.0.0.1", d.port), timeout=5)
    s.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.3)
    s.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and "/slow" not in (alog.read_text() if alog.exists() else ""):
        time.sleep(0.05)
    assert "GET /slow 499" in alog.read_text().splitlines()


# ---- one event, one line ----------------------------------------------------

def test_refused_reload_is_one_line(portico, tmp_path):
    app = tmp_path / "app.lua"
    app.write_text('route.get("/v", function() return "one" end)\n')
    d = portico(f'routes "{app}"')
    assert requests.get(d.url + "/v", timeout=5).text == "one"
    # an error raised from a function at load: a message and a traceback
    app.write_text('local function broken() error("boom at load") end\n'
                   'local function load() broken() end\n'
                   'load()\n')
    d.signal(signal.SIGHUP)
    assert d.wait_log("reload refused")
    time.sleep(0.2)
    log = d.log()
    refused = [l for l in log.splitlines() if "reload refused" in l]
    assert len(refused) == 1
    assert "boom at load" in refused[0] and "stack traceback:" in refused[0], refused[0]
    assert "\\n" in refused[0]
    assert_one_line_per_event(log)
    assert requests.get(d.url + "/v", timeout=5).text == "one"


def test_refused_reload_with_several_config_errors_is_one_line(portico):
    d = portico('route { path = "/v", handler = "static", body = "one" }')
    d.write(d.text + '\nworkers = "many"\nwokers = 2\n')
    d.signal(signal.SIGHUP)
    assert d.wait_log("reload refused")
    time.sleep(0.2)
    log = d.log()
    refused = [l for l in log.splitlines() if "reload refused" in l]
    assert len(refused) == 1 and "'workers' must be a number" in refused[0] \
        and "'wokers' is not a known setting" in refused[0], log
    assert_one_line_per_event(log)


def test_runtime_lua_error_is_one_line(portico, tmp_path):
    app = tmp_path / "app.lua"
    app.write_text('local function inner() error("boom at run") end\n'
                   'route.get("/err", function() inner() end)\n'
                   'route.get("/say", function() log.warn("two\\nlines\\r\\x01") return "ok" end)\n')
    d = portico(f'routes "{app}"')
    r = requests.get(d.url + "/err", timeout=5)
    assert r.status_code == 500
    assert requests.get(d.url + "/say", timeout=5).text == "ok"
    assert d.wait_log("two\\nlines")
    log = d.log()
    err = [l for l in log.splitlines() if "boom at run" in l]
    assert len(err) == 1 and "stack traceback:" in err[0], log
    assert "two\\nlines\\r\\x01" in log
    assert_one_line_per_event(log)
