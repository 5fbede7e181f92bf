"""The SDK's WebSocket example (sdk/examples/ws_echo), built out of tree with
nothing but pkg-config portico-plugin, loaded, and echoing text and binary
through ABI 1.6 (ws_accept, ws_send, ws_pause, on_close)."""
import asyncio
import os
import shutil
import subprocess

import pytest

from conftest import BUILDDIR, SRCDIR

websockets = pytest.importorskip("websockets")


@pytest.fixture(scope="module")
def echo_so(tmp_path_factory):
    if not shutil.which("make") or not shutil.which("pkg-config"):
        pytest.skip("make and pkg-config are needed to build the example")
    work = tmp_path_factory.mktemp("ws_echo")
    src = work / "src"
    shutil.copytree(os.path.join(SRCDIR, "sdk", "examples", "ws_echo"), src)
    for leftover in src.glob("*.so"):
        leftover.unlink()
    # a plugin author's shell: not inside `make check`'s jobserver
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    env["PKG_CONFIG_PATH"] = os.path.join(BUILDDIR, "sdk")
    r = subprocess.run(["make", "-s", "-C", str(src)], env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, "ws_echo did not build out of tree:\n" + r.stdout + r.stderr
    assert "warning:" not in r.stderr, r.stderr
    plugins = work / "plugins"
    plugins.mkdir()
    shutil.copy(src / "ws_echo.so", plugins / "ws_echo.so")
    return str(plugins)


def daemon(portico, plugins, opts=""):
    return portico('route { method = "GET", path = "/echo", handler = "ws_echo.echo"%s }\n'
                   % opts, plugins_dir=plugins)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


def test_ws_echo_text_and_binary(portico, echo_so):
    d = daemon(portico, echo_so)

    async def go():
        ws = await websockets.connect(f"ws://127.0.0.1:{d.port}/echo", max_size=None)
        await ws.send("héllo")
        assert await ws.recv() == "héllo"
        await ws.send(b"\x00\x01\xff")
        assert await ws.recv() == b"\x00\x01\xff"
        await ws.send("")
        assert await ws.recv() == ""
        big = os.urandom(300000)
        await ws.send(big)
        assert await ws.recv() == big
        await ws.close()
        return ws.close_code
    assert run(go()) == 1000
    assert d.wait_log("loaded ws_echo 1.0.0")


def test_ws_echo_delayed_keeps_order(portico, echo_so):
    d = daemon(portico, echo_so, ", delay_ms = 20")

    async def go():
        ws = await websockets.connect(f"ws://127.0.0.1:{d.port}/echo")
        for i in range(10):
            await ws.send(f"m{i}" if i % 2 else f"m{i}".encode())
        got = [await asyncio.wait_for(ws.recv(), 5) for _ in range(10)]
        assert got == [f"m{i}" if i % 2 else f"m{i}".encode() for i in range(10)]
        # leave while an echo waits on its timer: on_close frees it
        await ws.send("last")
        ws.transport.abort()
    run(go())
    assert d.wait_log("closed: 1006")
    assert d.proc.poll() is None


def test_ws_echo_limits_and_bad_handshakes(portico, echo_so):
    d = daemon(portico, echo_so, ", max_message = 1000")

    async def go():
        ws = await websockets.connect(f"ws://127.0.0.1:{d.port}/echo")
        await ws.send("x" * 1001)
        try:
            await asyncio.wait_for(ws.recv(), 5)
        except websockets.ConnectionClosed:
            pass
        return ws.close_code
    assert run(go()) == 1009
    import requests
    r = requests.get(d.url + "/echo", timeout=5)   # a plain GET: no handshake
    assert r.status_code == 426
    assert d.proc.poll() is None
