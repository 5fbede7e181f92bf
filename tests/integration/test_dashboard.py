"""The admin listener's dashboard (issue 16 item 3): the page, its
WebSocket of metrics, the token, hostile WebSocket clients; and the page
itself in headless Chromium (Debian chromium) driven over the DevTools
protocol: it loads, its numbers move when requests are sent, and a
screenshot is kept (tests/artifacts/dashboard.png, or $PORTICO_ARTIFACT_DIR)."""
import asyncio
import base64
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import time
import urllib.request

import pytest
import requests

from conftest import BUILDDIR, SRCDIR, free_port, raw_request, wait_port
from test_admin import admin_block, TOKEN

websockets = pytest.importorskip("websockets", reason="python3-websockets is not installed")

ROUTES = 'route { method = "GET", path = "/x", handler = "static", body = "x" }\n'


@pytest.fixture
def dash(portico, monkeypatch):
    monkeypatch.setenv("PORTICO_DASHBOARD_DIR", os.path.join(SRCDIR, "dashboard"))
    aport = free_port()
    d = portico(ROUTES + admin_block(aport), start=False)
    d.start()
    assert wait_port(aport, proc=d.proc), d.log()
    d.aport = aport
    d.admin = f"http://127.0.0.1:{aport}"
    return d


def ws_url(d, token=TOKEN):
    return f"ws://127.0.0.1:{d.aport}/dashboard/ws" + (f"?token={token}" if token else "")


def test_page_needs_the_token_and_is_plain_html(dash):
    assert requests.get(dash.admin + "/dashboard", timeout=5).status_code == 401
    r = requests.get(dash.admin + "/dashboard?token=wrong", timeout=5)
    assert r.status_code == 401
    r = requests.get(dash.admin + "/dashboard?token=" + TOKEN, timeout=5)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "/dashboard/ws" in r.text and "<script" in r.text
    # no CDN, no build step: nothing is fetched from elsewhere
    assert not re.search(r'(src|href)="(https?:)?//', r.text)
    assert "default-src 'self'" in r.headers["content-security-policy"]
    r = requests.get(dash.admin + "/dashboard", headers={"Authorization": "Bearer " + TOKEN},
                     timeout=5)
    assert r.status_code == 200
    # the token in the query opens the dashboard only, not the rest
    assert requests.get(dash.admin + "/status?token=" + TOKEN, timeout=5).status_code == 401


def test_websocket_pushes_the_metrics_each_second(dash):
    async def run():
        async with websockets.connect(ws_url(dash), open_timeout=5) as ws:
            first = await asyncio.wait_for(ws.recv(), 5)
            assert "portico_http_requests_total" in first or "# TYPE" in first
            for _ in range(3):
                assert requests.get(dash.url + "/x", timeout=5).status_code == 200
            t0 = time.monotonic()
            second = await asyncio.wait_for(ws.recv(), 5)
            assert 0.2 < time.monotonic() - t0 < 2.5
            assert re.search(r'portico_http_requests_total\{route="/x",[^}]*\} 3', second)
            pong = await ws.ping(b"hi")
            await asyncio.wait_for(pong, 5)
    asyncio.run(run())


def test_websocket_refuses_a_bad_token_or_handshake(dash):
    async def bad():
        with pytest.raises(websockets.exceptions.InvalidStatusCode) as e:
            async with websockets.connect(ws_url(dash, "nope"), open_timeout=5):
                pass
        assert e.value.status_code == 401
    asyncio.run(bad())
    auth = b"Authorization: Bearer " + TOKEN.encode() + b"\r\n"
    r = raw_request(dash.aport, b"GET /dashboard/ws HTTP/1.1\r\nHost: x\r\n" + auth + b"\r\n")
    assert r.startswith(b"HTTP/1.1 400")
    r = raw_request(dash.aport, b"GET /dashboard/ws HTTP/1.1\r\nHost: x\r\n" + auth +
                    b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                    b"Sec-WebSocket-Key: short\r\n\r\n")
    assert r.startswith(b"HTTP/1.1 400")
    assert requests.post(dash.admin + "/dashboard", headers={"Authorization": "Bearer " + TOKEN},
                         timeout=5).status_code == 405


class Sock(socket.socket):
    leftover = b""


def handshake(port):
    s = Sock(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16))
    s.sendall(b"GET /dashboard/ws HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + TOKEN.encode() +
              b"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
              b"Sec-WebSocket-Key: " + key + b"\r\n\r\n")
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += s.recv(4096)
    assert buf.startswith(b"HTTP/1.1 101"), buf[:100]
    s.leftover = buf.split(b"\r\n\r\n", 1)[1]   # the first frame may be here already
    return s


def read_close(s):
    """Reads frames until a close frame; returns its code (None at EOF)."""
    s.settimeout(5)
    buf = getattr(s, "leftover", b"")
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return None
            buf += chunk
            while len(buf) >= 2:
                op, ln = buf[0] & 0x0f, buf[1] & 0x7f
                hl = 2 + (2 if ln == 126 else 8 if ln == 127 else 0)
                if len(buf) < hl:
                    break
                if ln == 126:
                    ln = struct.unpack(">H", buf[2:4])[0]
                elif ln == 127:
                    ln = struct.unpack(">Q", buf[2:10])[0]
                if len(buf) < hl + ln:
                    break
                if op == 8:
                    return struct.unpack(">H", buf[hl:hl + 2])[0]
                buf = buf[hl + ln:]
    except (ConnectionResetError, socket.timeout):
        return None


@pytest.mark.parametrize("frame,code", [
    (b"\x81\x05hello", 1002),                                  # unmasked
    (b"\xc1\x80\x00\x00\x00\x00", 1002),                       # a reserved bit
    (b"\x81\xff" + struct.pack(">Q", 1 << 40) + b"\0\0\0\0", 1009),   # a huge length
    (b"\x81\xfe" + struct.pack(">H", 60000) + b"\0\0\0\0", 1009),     # over 4 KiB
    (b"\x09\x80\x00\x00\x00\x00", 1002),                       # a fragmented ping
])
def test_hostile_frames_close_the_connection(dash, frame, code):
    s = handshake(dash.aport)
    s.sendall(frame)
    assert read_close(s) == code
    s.close()
    # the admin listener still serves
    r = requests.get(dash.admin + "/status", headers={"Authorization": "Bearer " + TOKEN},
                     timeout=5)
    assert r.status_code == 200


def test_at_most_eight_dashboards(dash):
    socks = [handshake(dash.aport) for _ in range(8)]
    r = raw_request(dash.aport, b"GET /dashboard/ws HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                    TOKEN.encode() + b"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " +
                    base64.b64encode(os.urandom(16)) + b"\r\n\r\n")
    assert r.startswith(b"HTTP/1.1 503"), r[:80]
    for s in socks:
        s.close()
    time.sleep(0.3)
    s = handshake(dash.aport)   # freed slots are usable again
    s.close()


# ---- the page in a real browser --------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class CDP:
    """The Chrome DevTools protocol over one page target's WebSocket."""

    def __init__(self, ws):
        self.ws, self.n = ws, 0

    async def call(self, method, **params):
        self.n += 1
        await self.ws.send(json.dumps({"id": self.n, "method": method, "params": params}))
        while True:
            m = json.loads(await asyncio.wait_for(self.ws.recv(), 20))
            if m.get("id") == self.n:
                assert "error" not in m, m
                return m.get("result", {})

    async def text(self, element_id):
        r = await self.call("Runtime.evaluate", returnByValue=True,
                            expression=f"(document.getElementById('{element_id}')||{{}}).textContent")
        return r["result"].get("value")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is missing (apt-get install -y chromium)")
def test_the_page_in_headless_chromium_moves_with_traffic(dash, tmp_path):
    prof = tmp_path / "chromium-profile"
    br = subprocess.Popen([CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu",
                           "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
                           "--disable-background-networking", "--disable-component-update",
                           "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
                           f"--user-data-dir={prof}", "--window-size=1100,800", "about:blank"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        port = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and port is None:
            line = br.stderr.readline()
            m = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line or "")
            if m:
                port = int(m.group(1))
            elif not line and br.poll() is not None:
                break
        assert port, "chromium did not start its DevTools endpoint"
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10))
        page = next(t for t in targets if t["type"] == "page")

        async def run():
            async with websockets.connect(page["webSocketDebuggerUrl"], max_size=None,
                                          open_timeout=10) as ws:
                cdp = CDP(ws)
                await cdp.call("Page.enable")
                await cdp.call("Page.navigate", url=f"{dash.admin}/dashboard?token={TOKEN}")
                # live: frames arrive
                for _ in range(100):
                    if (await cdp.text("status") or "").startswith("live"):
                        break
                    await asyncio.sleep(0.1)
                assert (await cdp.text("status")).startswith("live"), await cdp.text("status")
                before = int(await cdp.text("requests"))
                rates = []
                t_end = time.monotonic() + 4
                while time.monotonic() < t_end:
                    for _ in range(20):
                        requests.get(dash.url + "/x", timeout=5)
                    rates.append(await cdp.text("rate"))
                    await asyncio.sleep(0.2)
                await asyncio.sleep(1.3)   # the next frame
                after = int(await cdp.text("requests"))
                assert after >= before + 20, (before, after)
                assert any(r not in ("–", "0.0") for r in rates), rates
                assert (await cdp.text("p50")) != "–" or (await cdp.text("p99")) != "–"
                shot = await cdp.call("Page.captureScreenshot", format="png")
                return base64.b64decode(shot["data"])

        png = asyncio.run(run())
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
        out = os.environ.get("PORTICO_ARTIFACT_DIR", os.path.join(BUILDDIR, "tests", "artifacts"))
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "dashboard.png"), "wb") as f:
            f.write(png)
    finally:
        br.terminate()
        try:
            br.wait(10)
        except subprocess.TimeoutExpired:
            br.kill()
            br.wait()
