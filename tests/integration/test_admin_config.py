"""GET /config on the admin listener: the running configuration with its
secrets masked, by where they came from (env(), secret_file()) and by the
name of the key that holds them."""
import json
import os

import requests

from conftest import free_port, wait_port

TOKEN = "admin-token-from-env-0123456789"
ENV_SECRET = "pg-password-from-env-42"
FILE_SECRET = "whsec_from_a_mounted_secret_file"
LITERAL_PW = "literal-password-in-the-file"


def start(portico, tmp_path, monkeypatch, extra=""):
    monkeypatch.setenv("PORTICO_ADMIN_TOKEN", TOKEN)
    monkeypatch.setenv("DB_PASSWORD", ENV_SECRET)
    (tmp_path / "whsec").write_text(FILE_SECRET + "\n")
    aport = free_port()
    body = (
        f'admin {{ listen = {{ address = "127.0.0.1", port = {aport} }}, '
        f'token = env("PORTICO_ADMIN_TOKEN") }}\n'
        'upstream "db" { servers = { "127.0.0.1:1" }, timeout = { connect = 1, read = 2 } }\n'
        'route { method = "GET", path = "/x", handler = "static", body = "x" }\n'
        'local pw = env("DB_PASSWORD")\n'
        'plugin "static_opts" { optional = true, '
        '  dsn = "postgres://app:" .. pw .. "@127.0.0.1/db", '
        '  signing = secret_file("whsec"), '
        f'  password = "{LITERAL_PW}", '
        '  keys = { alice = "alice-key-value" }, '
        '  nested = { deep = { api_key = 12345 } }, '
        '  plain = "visible-value", limit = 42 }\n' + extra)
    d = portico(body, start=False)
    d.start()
    assert wait_port(aport, proc=d.proc), d.log()
    return d, f"http://127.0.0.1:{aport}"


def test_config_view_masks_secrets_wherever_they_went(portico, tmp_path, monkeypatch):
    d, admin = start(portico, tmp_path, monkeypatch)
    r = requests.get(admin + "/config", headers={"Authorization": "Bearer " + TOKEN},
                     timeout=5)
    assert r.status_code == 200, r.text
    text = r.text
    for secret in (TOKEN, ENV_SECRET, FILE_SECRET, LITERAL_PW, "alice-key-value", "12345"):
        assert secret not in text, secret
    doc = json.loads(text)
    opts = doc["plugins"]["static_opts"]["options"]
    assert opts["dsn"] == "postgres://app:***@127.0.0.1/db"
    assert opts["signing"] == "***" and opts["password"] == "***"
    assert opts["keys"] == {"alice": "***"}
    assert opts["nested"]["deep"]["api_key"] == "***"
    # what is not a secret stays readable: the view is for operators
    assert opts["plain"] == "visible-value" and opts["limit"] == 42
    assert doc["upstreams"]["db"]["servers"] == ["127.0.0.1:1"]
    assert doc["upstreams"]["db"]["read_timeout"] == 2
    assert doc["listen"][0]["port"] == d.port
    assert doc["workers"] == 1 and doc["generation"] >= 1


def test_config_view_needs_the_token(portico, tmp_path, monkeypatch):
    _, admin = start(portico, tmp_path, monkeypatch)
    assert requests.get(admin + "/config", timeout=5).status_code == 401
    bad = requests.get(admin + "/config", headers={"Authorization": "Bearer nope"}, timeout=5)
    assert bad.status_code == 401 and ENV_SECRET not in bad.text
    r = requests.post(admin + "/config", headers={"Authorization": "Bearer " + TOKEN},
                      timeout=5)
    assert r.status_code == 405


def test_config_view_follows_reload(portico, tmp_path, monkeypatch):
    d, admin = start(portico, tmp_path, monkeypatch)
    auth = {"Authorization": "Bearer " + TOKEN}
    g1 = requests.get(admin + "/config", headers=auth, timeout=5).json()["generation"]
    monkeypatch.setenv("DB_PASSWORD", "a-new-password-after-reload")
    r = requests.post(admin + "/reload", headers=auth, timeout=10)
    assert r.status_code == 200, r.text
    r = requests.get(admin + "/config", headers=auth, timeout=5)
    assert r.json()["generation"] > g1
    # the daemon's environment did not change (monkeypatch is ours, not its):
    # the old value is still the one it read, and still masked
    assert ENV_SECRET not in r.text and "a-new-password" not in r.text
