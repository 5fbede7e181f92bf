"""env("NAME"[, default]) and secret_file("path") in portico.conf and in
route scripts, while they load only (issue 14): values, defaults, file:line
errors that refuse the config or the generation, relative paths from the
config's folder, the 64 KiB bound, one trailing newline stripped, and the
refusal at request time."""
import signal
import subprocess
import time

import requests

from conftest import BIN


def check(conf_path, cwd=None, env=None):
    return subprocess.run([BIN, "-t", "-c", conf_path], capture_output=True, text=True,
                          timeout=20, cwd=cwd, env=env)


def output(d):
    try:
        out, _ = d.proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        d.proc.kill()
        out, _ = d.proc.communicate()
    return out.decode(errors="replace") + d.log()


def script(tmp_path, text):
    d = tmp_path / "routes"
    d.mkdir(exist_ok=True)
    (d / "r.lua").write_text(text)
    return d


def test_env_in_config_sets_values(portico, tmp_path, monkeypatch):
    monkeypatch.setenv("PT_TEST_WORKERS", "2")
    monkeypatch.setenv("PT_TEST_EMPTY", "")
    monkeypatch.delenv("PT_TEST_UNSET", raising=False)
    body = ('route { path = "/w", handler = "static", body = env("PT_TEST_WORKERS") }\n'
            'route { path = "/e", handler = "static", body = "[" .. env("PT_TEST_EMPTY") .. "]" }\n'
            'route { path = "/d", handler = "static", body = env("PT_TEST_UNSET", "dflt") }\n'
            'route { path = "/n", handler = "static", body = env("PT_TEST_UNSET", 5) }\n')
    d = portico(body)
    assert requests.get(d.url + "/w", timeout=5).text == "2"
    assert requests.get(d.url + "/e", timeout=5).text == "[]"
    assert requests.get(d.url + "/d", timeout=5).text == "dflt"
    assert requests.get(d.url + "/n", timeout=5).text == "5"


def test_unset_env_refuses_the_config_with_file_line(portico, tmp_path, monkeypatch):
    monkeypatch.delenv("PT_TEST_UNSET", raising=False)
    d = portico('\n\nroute { path = "/x", handler = "static", body = env("PT_TEST_UNSET") }\n',
                start=False)
    line = d.text.splitlines().index(
        'route { path = "/x", handler = "static", body = env("PT_TEST_UNSET") }') + 1
    d.start(expect_ok=False)
    assert d.proc.wait(10) == 1
    out = output(d)
    assert f'{d.conf_path}:{line}: env("PT_TEST_UNSET"): not set' in out, out
    r = check(d.conf_path)
    assert r.returncode == 1
    assert f'{d.conf_path}:{line}: env("PT_TEST_UNSET"): not set' in r.stderr
    # hostile names: not a string, empty, with '='
    for bad, why in (('env({})', "bad argument #1 to 'env'"), ('env("")', "not a variable"),
                     ('env("A=B")', "not a variable"), ('env()', "bad argument #1")):
        d.write(d.text.replace('env("PT_TEST_UNSET")', bad))
        r = check(d.conf_path)
        assert r.returncode == 1 and why in r.stderr, (bad, r.stderr)


def test_secret_file_in_config(portico, tmp_path):
    (tmp_path / "sec").mkdir()
    (tmp_path / "sec" / "a").write_bytes(b"alpha\n")
    (tmp_path / "sec" / "b").write_bytes(b"beta\r\n")
    (tmp_path / "sec" / "c").write_bytes(b"two\n\n")        # only one newline goes
    (tmp_path / "sec" / "big").write_bytes(b"x" * 65536)    # exactly 64 KiB: fine
    body = ('route { path = "/a", handler = "static", body = secret_file("sec/a") }\n'
            'route { path = "/b", handler = "static", body = secret_file("sec/b") }\n'
            'route { path = "/c", handler = "static", body = secret_file("sec/c") }\n'
            f'route {{ path = "/abs", handler = "static", body = secret_file("{tmp_path}/sec/a") }}\n'
            'route { path = "/big", handler = "static", body = secret_file("sec/big") }\n')
    d = portico(body)
    assert requests.get(d.url + "/a", timeout=5).text == "alpha"
    assert requests.get(d.url + "/b", timeout=5).text == "beta"
    assert requests.get(d.url + "/c", timeout=5).text == "two\n"
    assert requests.get(d.url + "/abs", timeout=5).text == "alpha"
    assert len(requests.get(d.url + "/big", timeout=5).text) == 65536
    # relative to the config's folder, not to where portico starts
    r = check(d.conf_path, cwd="/")
    assert r.returncode == 0, r.stderr


def test_secret_file_errors(portico, tmp_path):
    (tmp_path / "huge").write_bytes(b"x" * 65537)
    (tmp_path / "dir").mkdir()
    d = portico('\nroute { path = "/a", handler = "static", body = secret_file("nope") }\n',
                start=False)
    line = next(i + 1 for i, l in enumerate(d.text.splitlines()) if "secret_file(" in l)
    r = check(d.conf_path)
    assert r.returncode == 1
    assert f'{d.conf_path}:{line}: secret_file("nope"): No such file or directory' in r.stderr
    for arg, why in (("huge", "larger than 64 KiB"), ("dir", "Is a directory"),
                     ("/dev/zero", "not a regular file"), ("", "no path"),
                     ("x" * 5000, "path too long")):
        d.write(d.text.replace('secret_file("nope")', f'secret_file("{arg}")'))
        r = check(d.conf_path)
        assert r.returncode == 1 and why in r.stderr, (arg, r.stderr)
    # unreadable (when not root, where permissions hold)
    import os
    if os.geteuid() != 0:
        (tmp_path / "locked").write_text("s")
        os.chmod(tmp_path / "locked", 0)
        d.write(d.text.replace('secret_file("nope")', 'secret_file("locked")'))
        r = check(d.conf_path)
        assert r.returncode == 1 and "Permission denied" in r.stderr


def test_env_and_secret_file_in_route_scripts(portico, tmp_path, monkeypatch):
    monkeypatch.setenv("PT_TEST_TOKEN", "tok-1")
    (tmp_path / "key").write_text("k3y\n")
    d = script(tmp_path, '''
local TOKEN = env("PT_TEST_TOKEN")
local KEY = secret_file("key")
local DFLT = env("PT_TEST_UNSET", "none")
route.get("/v", function() return { token = TOKEN, key = KEY, d = DFLT } end)
route.get("/late", function() return env("PT_TEST_TOKEN") end)
route.get("/late_file", function() return secret_file("key") end)
route.get("/late_pcall", function() return { ok = pcall(env, "PT_TEST_TOKEN") } end)
''')
    monkeypatch.delenv("PT_TEST_UNSET", raising=False)
    p = portico(f'routes "{d}"')
    assert requests.get(p.url + "/v", timeout=5).json() == {"token": "tok-1", "key": "k3y",
                                                            "d": "none"}
    # at request time: refused, a 500 and a logged error
    for path in ("/late", "/late_file"):
        r = requests.get(p.url + path, timeout=5)
        assert r.status_code == 500 and "tok-1" not in r.text and "k3y" not in r.text
    assert p.wait_log("env() is only available while scripts load")
    assert p.wait_log("secret_file() is only available while scripts load")
    assert requests.get(p.url + "/late_pcall", timeout=5).json() == {"ok": False}


def test_unset_env_in_a_script_refuses_start_and_reload(portico, tmp_path, monkeypatch):
    monkeypatch.delenv("PT_TEST_UNSET", raising=False)
    monkeypatch.setenv("PT_TEST_TOKEN", "tok-1")
    d = script(tmp_path, 'local T = env("PT_TEST_TOKEN")\n'
                         'route.get("/v", function() return T end)\n')
    p = portico(f'routes "{d}"')
    assert requests.get(p.url + "/v", timeout=5).text == "tok-1"
    # reload: env is read again, from the daemon's own environment (the
    # shell's later exports never reach a running process): the value stays
    monkeypatch.setenv("PT_TEST_TOKEN", "tok-2")
    (d / "r.lua").write_text('local T = env("PT_TEST_TOKEN") .. "+"\n'
                             'route.get("/v", function() return T end)\n')
    p.signal(signal.SIGHUP)
    assert p.wait_log("generation 2 is live")
    assert requests.get(p.url + "/v", timeout=5).text == "tok-1+"
    # a script naming an unset variable: the reload is refused with file:line
    (d / "r.lua").write_text('\nlocal T = env("PT_TEST_UNSET")\n'
                             'route.get("/v", function() return T end)\n')
    p.signal(signal.SIGHUP)
    assert p.wait_log('r.lua:2: env("PT_TEST_UNSET"): not set')
    assert "reload refused" in p.log()
    assert requests.get(p.url + "/v", timeout=5).text == "tok-1+"
    p.stop()
    # and at start
    q = portico(f'routes "{d}"', start=False)
    q.start(expect_ok=False)
    assert q.proc.wait(10) == 1
    assert 'r.lua:2: env("PT_TEST_UNSET"): not set' in output(q)


def test_conftest_sets_var_dir(portico, tmp_path):
    d = portico("", start=False)
    assert f'var_dir = "{tmp_path}/var"' in d.text
    d2 = portico('var_dir = "/tmp/elsewhere"', start=False)
    assert d2.text.count("var_dir = ") == 1
    time.sleep(0)


def test_tonumber_of_env_in_config(portico, tmp_path, monkeypatch):
    """Numbers from the environment: tonumber(env(...)) in portico.conf."""
    monkeypatch.setenv("PT_TEST_WORKERS", "2")
    monkeypatch.setenv("PT_TEST_NOTNUM", "two")
    d = portico('shutdown_timeout = tonumber(env("PT_TEST_WORKERS"))\n'
                'route { path = "/w", handler = "static", body = "ok" }\n')
    assert requests.get(d.url + "/w", timeout=5).text == "ok"
    for bad, why in (('tonumber(env("PT_TEST_NOTNUM"))', 'tonumber("two"): not a number'),
                     ('tonumber({})', "tonumber(table): not a number"),
                     ('tonumber()', "bad argument #1 to 'tonumber'"),
                     ('tonumber("1e400x")', "not a number")):
        d.write(d.text.replace('tonumber(env("PT_TEST_WORKERS"))', bad))
        r = check(d.conf_path)
        assert r.returncode == 1 and why in r.stderr, (bad, r.stderr)
        assert f"{d.conf_path}:" in r.stderr, r.stderr
        d.write(d.text.replace(bad, 'tonumber(env("PT_TEST_WORKERS"))'))
