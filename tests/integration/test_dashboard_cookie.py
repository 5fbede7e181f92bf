"""The dashboard's token stays out of URLs after the first one.

A browser sends no Authorization header, so the page is opened once as
/dashboard?token=...; the answer sets an HttpOnly, SameSite=Strict cookie
(a hash of the token's hash, never the token), the page drops the token
from the address bar, and its WebSocket gets in with the cookie. The cookie
opens the dashboard only, and its WebSocket only from the dashboard's own
origin: a page on another port of the same host (the same site for the
browser, so the cookie goes along) is refused.
"""
import asyncio

import pytest
import requests

from conftest import free_port, wait_port
from test_admin import admin_block, TOKEN

websockets = pytest.importorskip("websockets", reason="python3-websockets is not installed")


@pytest.fixture
def dash(portico, monkeypatch):
    from conftest import SRCDIR
    import os
    monkeypatch.setenv("PORTICO_DASHBOARD_DIR", os.path.join(SRCDIR, "dashboard"))
    aport = free_port()
    d = portico(admin_block(aport), start=False)
    d.start()
    assert wait_port(aport, proc=d.proc), d.log()
    d.aport = aport
    d.admin = f"http://127.0.0.1:{aport}"
    return d


def cookie_of(r):
    sc = r.headers.get("set-cookie", "")
    assert sc.startswith("portico_dashboard="), r.headers
    return sc, sc.split(";", 1)[0]


def test_the_token_in_the_query_sets_a_cookie_that_is_not_the_token(dash):
    r = requests.get(dash.admin + "/dashboard?token=" + TOKEN, timeout=5, allow_redirects=False)
    assert r.status_code == 200
    sc, kv = cookie_of(r)
    assert "HttpOnly" in sc and "SameSite=Strict" in sc and "Path=/dashboard" in sc
    assert TOKEN not in sc and len(kv.split("=", 1)[1]) == 64
    assert r.headers["referrer-policy"] == "no-referrer"
    assert "history.replaceState" in r.text and "?token=" not in r.text.split("new WebSocket")[1][:200]
    # the cookie opens the page again, without the token
    r2 = requests.get(dash.admin + "/dashboard", headers={"cookie": kv}, timeout=5)
    assert r2.status_code == 200 and "set-cookie" not in r2.headers
    # a bearer token or no token: no cookie handed out
    r3 = requests.get(dash.admin + "/dashboard", timeout=5,
                      headers={"authorization": "Bearer " + TOKEN})
    assert r3.status_code == 200 and "set-cookie" not in r3.headers


def test_the_cookie_opens_the_dashboard_only(dash):
    _, kv = cookie_of(requests.get(dash.admin + "/dashboard?token=" + TOKEN, timeout=5))
    for path in ("/status", "/metrics", "/config", "/routes"):
        assert requests.get(dash.admin + path, headers={"cookie": kv}, timeout=5).status_code == 401
    assert requests.post(dash.admin + "/reload", headers={"cookie": kv},
                         timeout=5).status_code == 401


@pytest.mark.parametrize("bad", ["portico_dashboard=" + "0" * 64, "portico_dashboard=",
                                 "portico_dashboard=" + TOKEN, "other=1",
                                 "portico_dashboard=" + "a" * 5000])
def test_a_wrong_cookie_is_refused(dash, bad):
    r = requests.get(dash.admin + "/dashboard", headers={"cookie": bad}, timeout=5)
    assert r.status_code in (400, 401, 431), r.status_code


def ws_status(url, cookie=None, origin=None):
    """The handshake's status: 101, or the status of the refusal."""
    headers = {"cookie": cookie} if cookie else {}
    kw = {"open_timeout": 5} if _new_api() else {"extra_headers": headers, "open_timeout": 5}
    if _new_api():
        kw["additional_headers"] = headers
    if origin:
        kw["origin"] = origin

    async def go():
        try:
            async with websockets.connect(url, **kw) as ws:
                await asyncio.wait_for(ws.recv(), 5)
                return 101
        except Exception as e:   # InvalidStatus (new) or InvalidStatusCode (10.x)
            resp = getattr(e, "response", None)
            code = getattr(resp, "status_code", None) or getattr(e, "status_code", None)
            if code is None:
                raise
            return code
    return asyncio.run(go())


def _new_api():
    import inspect
    return "additional_headers" in inspect.signature(websockets.connect).parameters


def test_the_websocket_takes_the_cookie_from_its_own_origin_only(dash):
    _, kv = cookie_of(requests.get(dash.admin + "/dashboard?token=" + TOKEN, timeout=5))
    url = f"ws://127.0.0.1:{dash.aport}/dashboard/ws"
    own = f"http://127.0.0.1:{dash.aport}"
    assert ws_status(url, cookie=kv, origin=own) == 101
    assert ws_status(url, cookie=kv) == 101                 # not a browser: no origin
    assert ws_status(url, cookie=kv, origin=f"http://127.0.0.1:{dash.port}") == 403
    assert ws_status(url, cookie=kv, origin="http://evil.example") == 403
    assert ws_status(url, cookie="portico_dashboard=" + "0" * 64, origin=own) == 401
    assert ws_status(url + "?token=" + TOKEN, origin="http://elsewhere") == 101  # explicit token
