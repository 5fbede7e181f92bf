"""The ABI promise (issue 16, item 7), through the daemon.

A plugin built against the frozen ABI 1.0 headers (tests/plugins/abi-1.0/)
keeps loading and serving on this core; a plugin built for a newer minor than
this core's is refused before any of its code runs, with both versions named.
"""
import re
import signal
import subprocess
import threading
import time

import requests

from conftest import BIN, free_port, wait_port
from test_daemon import fixture_plugins


def core_abi():
    out = subprocess.run([BIN, "-v"], capture_output=True, text=True, timeout=10).stdout
    m = re.search(r"plugin ABI (\d+)\.(\d+)", out)
    assert m, out
    return int(m.group(1)), int(m.group(2))


ROUTES = '''
route { method = { "GET", "POST" }, path = "/echo/:name", handler = "abi10.echo",
        greeting = "hi" }
route { path = "/stream", handler = "abi10.stream" }
route { path = "/later", handler = "abi10.later" }
routes "%s"
'''

SCRIPT = '''
local abi10 = require("abi10")
route.get("/lua/later", function(req)
  return { v = abi10.later(tonumber(req.query.ms) or 50, tonumber(req.query.v) or 0),
           built = abi10.built() }
end)
route.get("/lua/bad", function() return { v = abi10.later(-1, 1) } end)
'''


def abi10_daemon(portico, tmp_path, workers=1, extra=""):
    plugins = fixture_plugins(tmp_path, "abi10")
    scripts = tmp_path / "routes"
    scripts.mkdir(exist_ok=True)
    (scripts / "abi10.lua").write_text(SCRIPT)
    return portico(ROUTES % scripts + extra, plugins_dir=plugins, workers=workers)


def test_abi10_plugin_passes_check(portico, tmp_path):
    plugins = fixture_plugins(tmp_path, "abi10")
    d = portico(ROUTES % tmp_path, plugins_dir=plugins, start=False)
    out = subprocess.run([BIN, "-t", "-c", d.conf_path], capture_output=True, text=True,
                         timeout=20)
    assert out.returncode == 0, out.stdout + out.stderr + d.log()
    assert "1 plugin(s)" in out.stdout


def test_abi10_plugin_loads_and_serves(portico, tmp_path):
    major, minor = core_abi()
    admin = free_port()
    d = abi10_daemon(portico, tmp_path,
                     extra='admin { listen = { address = "127.0.0.1", port = %d } }' % admin)
    assert wait_port(admin)
    listed = requests.get(f"http://127.0.0.1:{admin}/plugins", timeout=5).json()
    assert {"name": "abi10", "abi": "1.0"}.items() <= next(
        p for p in listed if p["name"] == "abi10").items()
    assert "abi10: built for ABI 1.0, core" in d.log()
    assert f"provides {major}.{minor}" in d.log()
    r = requests.get(d.url + "/echo/ann?n=42", headers={"X-Test": "yes"}, timeout=5)
    assert r.status_code == 200, d.log()
    assert r.text == "hi ann n=42 x=yes\n"
    assert r.headers["x-abi-plugin"] == "1.0"
    assert r.headers["x-abi-core"] == f"{major}.{minor}"
    # the body, hostile query values
    r = requests.post(d.url + "/echo/x", data=b"\x00body\xff" * 100, timeout=5)
    assert r.status_code == 200 and r.content == b"\x00body\xff" * 100
    r = requests.get(d.url + "/echo/x?n=" + "9" * 200, timeout=5)
    assert r.text == "hi x n=-1 x=-\n"
    # streamed response, async answer from a timer
    r = requests.get(d.url + "/stream?n=5", timeout=5)
    assert r.status_code == 200 and r.text == "0\n1\n2\n3\n4\n"
    assert requests.get(d.url + "/stream?n=0", timeout=5).text == ""
    r = requests.get(d.url + "/later?ms=20", timeout=5)
    assert r.status_code == 200 and r.text == "later\n"


def test_abi10_lua_module_waits(portico, tmp_path):
    d = abi10_daemon(portico, tmp_path)
    out = {}
    t = threading.Thread(target=lambda: out.update(
        r=requests.get(d.url + "/lua/later?ms=1500&v=7", timeout=10)))
    t.start()
    time.sleep(0.2)
    # the one worker is free while the coroutine waits on the 1.0 timer:
    # another request is answered before the waiting one
    assert requests.get(d.url + "/echo/a", timeout=5).status_code == 200
    assert t.is_alive() and "r" not in out
    t.join()
    assert out["r"].status_code == 200, d.log()
    assert out["r"].json() == {"v": 7, "built": "1.0"}
    # a Lua error raised by the module is a 500 and a log line, not a crash
    r = requests.get(d.url + "/lua/bad", timeout=5)
    assert r.status_code == 500
    assert d.wait_log("0 to 10000 ms")
    assert requests.get(d.url + "/echo/b", timeout=5).status_code == 200


def test_abi10_plugin_survives_reload_and_client_leaving(portico, tmp_path):
    d = abi10_daemon(portico, tmp_path, workers=2)
    # clients that leave before the timer answers: the plugin sees aborted
    for _ in range(5):
        try:
            requests.get(d.url + "/later?ms=300", timeout=0.05)
        except requests.exceptions.RequestException:
            pass
    d.signal(signal.SIGHUP)
    assert d.wait_log("reload: generation 2 is live"), d.log()
    time.sleep(0.4)   # the abandoned timers fire on the old generation
    for _ in range(4):
        assert requests.get(d.url + "/echo/z", timeout=5).text == "hi z n=-1 x=-\n"
    assert d.proc.poll() is None
    assert d.stop() == 0


def test_newer_minor_plugin_refused_naming_both_versions(portico, tmp_path):
    major, minor = core_abi()
    plugins = fixture_plugins(tmp_path, "wrong_minor")
    d = portico("", start=False, plugins_dir=plugins)
    d.start(expect_ok=False)
    assert d.proc.wait(10) != 0
    log = d.log()
    assert (f"wrong_minor.so: built for plugin ABI {major}.{minor + 1}, "
            f"this portico provides {major}.{minor}; rebuild it against "
            f"portico-plugin {major}.x") in log, log
    # portico -t refuses it too, and says why at the terminal (not in log.file)
    out = subprocess.run([BIN, "-t", "-c", d.conf_path], capture_output=True, text=True,
                         timeout=20)
    assert out.returncode == 1 and "test failed" in out.stdout
    assert f"built for plugin ABI {major}.{minor + 1}" in out.stderr, out.stderr
    assert d.log().count(f"built for plugin ABI {major}.{minor + 1}") == 1
