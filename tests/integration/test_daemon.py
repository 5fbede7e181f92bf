"""The daemon's life: -t, -v, -s, reload, broken reload, graceful stop, plugins."""
import os
import re
import shutil
import signal
import subprocess
import time

import pytest
import requests

from conftest import BIN, SRCDIR, TEST_PLUGIN_DIR, Daemon

STATIC = 'route { method = "GET", path = "/v", handler = "static", body = "%s" }'


def fixture_plugins(tmp_path, *names):
    d = tmp_path / "plugins"
    d.mkdir(exist_ok=True)
    for n in names:
        shutil.copy(os.path.join(TEST_PLUGIN_DIR, n + ".so"), d / (n + ".so"))
    return str(d)


def run_t(conf_path):
    return subprocess.run([BIN, "-t", "-c", conf_path], capture_output=True, text=True,
                          timeout=20)


def test_version_flag():
    out = subprocess.run([BIN, "-v"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0
    assert out.stdout.startswith("portico ") and "plugin ABI 1." in out.stdout


def test_unknown_option_is_usage_error():
    out = subprocess.run([BIN, "-x"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 2
    assert "usage" in out.stderr


def test_check_shows_a_refused_plugins_reason_whatever_log_file_says(portico, tmp_path):
    plugins = fixture_plugins(tmp_path, "wrong_abi")
    d = portico("", start=False, plugins_dir=plugins)   # its config has log.file
    assert "file = " in d.text
    out = run_t(d.conf_path)
    assert out.returncode != 0
    assert "built for plugin ABI 2.0" in out.stderr, out.stdout + out.stderr
    assert not os.path.exists(d.log_path) or "ABI 2.0" not in d.log()


def test_check_accepts_good_config(portico):
    d = portico(STATIC % "one", start=False)
    out = run_t(d.conf_path)
    assert out.returncode == 0, out.stdout + out.stderr + d.log()
    assert "syntax is ok" in out.stdout


def test_check_reports_wrong_key_with_line(portico):
    d = portico("", start=False)
    d.write(d.text + "\n\nwokers = 3\n")
    line = len((d.text + "\n\nwokers = 3\n").splitlines())
    out = run_t(d.conf_path)
    assert out.returncode == 1
    assert f"portico.conf:{line}: 'wokers' is not a known setting (did you mean 'workers'?)" in out.stderr


def test_check_reports_stream_body_not_a_boolean(portico):
    d = portico('route { path = "/x", handler = "static", body = "x", stream_body = "yes" }',
                start=False)
    out = run_t(d.conf_path)
    assert out.returncode == 1
    assert "route /x: stream_body must be true or false" in out.stderr


def test_check_reports_unknown_handler(portico):
    d = portico('route { path = "/x", handler = "nope" }', start=False)
    out = run_t(d.conf_path)
    assert out.returncode == 1
    assert "no handler named 'nope'" in out.stderr + d.log()


def test_check_reports_lua_syntax_error(portico):
    d = portico("workers = = 1", start=False)
    out = run_t(d.conf_path)
    assert out.returncode == 1
    assert "portico.conf:7: unexpected symbol" in out.stderr and "unexpected symbol" in out.stderr


def test_serves_and_stops_gracefully(portico):
    d = portico(STATIC % "one")
    assert requests.get(d.url + "/v", timeout=5).text == "one"
    assert os.path.exists(d.pid_file)
    t0 = time.monotonic()
    assert d.stop() == 0
    assert time.monotonic() - t0 < 5
    assert "stopped" in d.log()
    assert not os.path.exists(d.pid_file)


def test_sigint_also_stops_cleanly(portico):
    d = portico(STATIC % "one")
    d.signal(signal.SIGINT)
    assert d.proc.wait(10) == 0


def test_reload_swaps_routes_without_restart(portico):
    d = portico(STATIC % "one")
    pid = d.proc.pid
    s = requests.Session()
    assert s.get(d.url + "/v", timeout=5).text == "one"
    d.write(d.text.replace('body = "one"', 'body = "two"'))
    d.signal(signal.SIGHUP)
    assert d.wait_log("is live")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and s.get(d.url + "/v", timeout=5).text != "two":
        time.sleep(0.05)
    assert s.get(d.url + "/v", timeout=5).text == "two"   # same keep-alive connection
    assert d.proc.pid == pid and d.proc.poll() is None


def test_broken_reload_keeps_old_config(portico):
    d = portico(STATIC % "one")
    d.write(d.text + "\nworkers = \"many\"\n")
    d.signal(signal.SIGHUP)
    assert d.wait_log("reload refused")
    assert "'workers' must be a number" in d.log()
    assert requests.get(d.url + "/v", timeout=5).text == "one"
    assert d.proc.poll() is None


def test_reload_with_unknown_handler_is_refused(portico):
    d = portico(STATIC % "one")
    d.write(d.text + '\nroute { path = "/y", handler = "missing" }\n')
    d.signal(signal.SIGHUP)
    assert d.wait_log("reload refused")
    assert requests.get(d.url + "/v", timeout=5).text == "one"


def test_signal_flag_reloads_and_stops(portico):
    d = portico(STATIC % "one")
    d.write(d.text.replace('body = "one"', 'body = "two"'))
    out = subprocess.run([BIN, "-s", "reload", "-c", d.conf_path], capture_output=True,
                         text=True, timeout=10)
    assert out.returncode == 0, out.stderr
    assert d.wait_log("is live")
    assert requests.get(d.url + "/v", timeout=5).text == "two"
    out = subprocess.run([BIN, "-s", "stop", "-c", d.conf_path], capture_output=True,
                         text=True, timeout=10)
    assert out.returncode == 0, out.stderr
    assert d.proc.wait(10) == 0


def test_signal_flag_without_running_instance(portico):
    d = portico(STATIC % "one", start=False)
    out = subprocess.run([BIN, "-s", "reload", "-c", d.conf_path], capture_output=True,
                         text=True, timeout=10)
    assert out.returncode == 1
    assert "cannot read a pid" in out.stderr


def test_wrong_abi_plugin_refused_by_name(portico, tmp_path):
    plugins = fixture_plugins(tmp_path, "wrong_abi")
    d = portico("", start=False, plugins_dir=plugins)
    d.start(expect_ok=False)
    assert d.proc.wait(10) != 0
    log = d.log()
    minor = re.search(r"#define PT_ABI_MINOR (\d+)",
                      open(os.path.join(SRCDIR, "sdk/include/portico/plugin.h")).read()).group(1)
    assert f"wrong_abi.so: built for plugin ABI 2.0, this portico provides 1.{minor}" in log


def test_plugin_without_entry_refused(portico, tmp_path):
    plugins = fixture_plugins(tmp_path, "no_entry")
    d = portico("", start=False, plugins_dir=plugins)
    d.start(expect_ok=False)
    assert d.proc.wait(10) != 0
    assert "no_entry.so: no entry symbol 'portico_plugin'" in d.log()


def test_failing_load_refused_unless_optional(portico, tmp_path):
    plugins = fixture_plugins(tmp_path, "failing_load")
    d = portico("", start=False, plugins_dir=plugins)
    d.start(expect_ok=False)
    assert d.proc.wait(10) != 0
    assert "failing_load" in d.log() and "load failed" in d.log()
    os.unlink(d.log_path)
    d2 = Daemon(str(tmp_path), 'plugin "failing_load" { optional = true }', plugins_dir=plugins)
    d2.start()
    try:
        assert "(optional: skipped)" in d2.log()
    finally:
        d2.stop()


def test_good_plugin_serves_its_handler(portico, tmp_path):
    plugins = fixture_plugins(tmp_path, "good")
    d = portico('plugin "good" { greeting = "hi" }\n'
                'route { path = "/g", handler = "good.hello" }', plugins_dir=plugins)
    assert requests.get(d.url + "/g", timeout=5).text == "good plugin\n"
    assert "greeting option: hi" in d.log()
    assert "loaded good 1.0" in d.log()


def test_disabled_plugin_is_not_loaded(portico, tmp_path):
    plugins = fixture_plugins(tmp_path, "good", "failing_load")
    d = portico('plugin "failing_load" { enabled = false }', plugins_dir=plugins)
    assert "disabled" in d.log()
    assert d.proc.poll() is None


def test_configured_but_missing_plugin_is_an_error(portico):
    d = portico('plugin "ghost" {}', start=False)
    out = run_t(d.conf_path)
    assert out.returncode == 1
    assert 'plugin "ghost" is configured but no plugin of that name' in out.stderr + d.log()


def test_port_in_use_is_reported(portico):
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    try:
        d = portico("", start=False,
                    listen='listen { address = "127.0.0.1", port = %d }' % port)
        d.start(expect_ok=False)
        assert d.proc.wait(10) == 1
        assert "Address already in use" in d.log()
    finally:
        s.close()


def test_workers_all_serve(portico):
    d = portico(STATIC % "one", workers=2)
    for _ in range(20):
        with requests.get(d.url + "/v", timeout=5, headers={"Connection": "close"}) as r:
            assert r.text == "one"


def test_plugin_outbound_request_through_the_abi(portico, tmp_path):
    import http.server
    import threading

    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            body = b"from upstream " + self.path.encode()
            self.send_response(203)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        plugins = fixture_plugins(tmp_path, "good")
        d = portico('route { path = "/f", handler = "good.fetch" }', plugins_dir=plugins)
        up = "http://127.0.0.1:%d/x" % srv.server_address[1]
        r = requests.get(d.url + "/f", params={"url": up}, timeout=5)
        assert (r.status_code, r.text) == (203, "from upstream /x")
        r = requests.get(d.url + "/f", params={"url": "http://127.0.0.1:1/"}, timeout=5)
        assert r.status_code == 502
    finally:
        srv.shutdown()
        srv.server_close()
