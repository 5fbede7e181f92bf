"""Shared fixtures: start the built daemon on free loopback ports.

Environment (set by `make check`, or by hand):
  PORTICO_BIN       the daemon (default: ../../core/portico from this file)
  PORTICO_SRCDIR    the source root
  TEST_PLUGIN_DIR   the fixture plugins (tests/plugins/.libs)
"""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.environ.get("PORTICO_SRCDIR", os.path.abspath(os.path.join(HERE, "..", "..")))
BUILDDIR = os.environ.get("PORTICO_BUILDDIR", SRCDIR)
BIN = os.environ.get("PORTICO_BIN", os.path.join(BUILDDIR, "core", "portico"))
TEST_PLUGIN_DIR = os.environ.get("TEST_PLUGIN_DIR",
                                 os.path.join(BUILDDIR, "tests", "plugins", ".libs"))
SHARED = os.path.abspath(os.path.join(SRCDIR, "..", "shared"))


_issued = set()


def free_port():
    """A loopback port free now and not handed out before in this run: two
    calls for one daemon (its listener and its admin port) could otherwise get
    the same port back from the kernel, and the daemon would not start."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _issued:
            break
    _issued.add(port)
    return port


def wait_port(port, timeout=10.0, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.02)
    return False


class Daemon:
    """One running portico with its config, log and ports."""

    def __init__(self, workdir, body, plugins_dir=None, listen=None, workers=1,
                 extra_listen=""):
        self.dir = workdir
        self.port = free_port()
        self.pid_file = os.path.join(workdir, "portico.pid")
        self.log_path = os.path.join(workdir, "error.log")
        self.conf_path = os.path.join(workdir, "portico.conf")
        self.plugins_dir = plugins_dir or os.path.join(workdir, "plugins")
        os.makedirs(self.plugins_dir, exist_ok=True)
        if listen is None:
            listen = 'listen { address = "127.0.0.1", port = %d }' % self.port
        # plugins keep state there (the webhook store): never the system's.
        # On the pid_file line: tests count the lines of the config.
        var_dir = "" if "var_dir" in body else f'; var_dir = "{workdir}/var"'
        self.text = (
            f'workers = {workers}\n'
            f'plugins_dir = "{self.plugins_dir}"\n'
            f'pid_file = "{self.pid_file}"{var_dir}\n'
            f'log = {{ level = "debug", file = "{self.log_path}" }}\n'
            f'{listen}\n{extra_listen}\n{body}\n')
        self.write(self.text)
        self.proc = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def write(self, text):
        with open(self.conf_path, "w") as f:
            f.write(text)

    def start(self, expect_ok=True, wait_for=None):
        self.proc = subprocess.Popen([BIN, "-c", self.conf_path], cwd=self.dir,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if expect_ok:
            ok = wait_port(wait_for or self.port, proc=self.proc)
            assert ok, "portico did not start:\n" + self.log()
        return self

    def log(self):
        out = ""
        if os.path.exists(self.log_path):
            with open(self.log_path, errors="replace") as f:
                out = f.read()
        return out

    def wait_log(self, needle, timeout=5.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.log():
                return True
            time.sleep(0.05)
        return False

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=15):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode if self.proc else None


@pytest.fixture
def portico(tmp_path):
    """Factory: portico(body, **kw) -> started Daemon; stopped at test end."""
    started = []

    def make(body="", start=True, **kw):
        d = Daemon(str(tmp_path), body, **kw)
        started.append(d)
        if start:
            d.start()
        return d

    yield make
    for d in started:
        d.stop()


def raw_request(port, data, timeout=3.0, read_until_close=True):
    """Sends DATA on a new connection; returns all bytes read until close/timeout."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        s.settimeout(timeout)
        try:
            while True:
                b = s.recv(65536)
                if not b:
                    break
                chunks.append(b)
                if not read_until_close:
                    break
        except socket.timeout:
            pass
        return b"".join(chunks)


def have_shared():
    return os.path.isdir(os.path.join(SHARED, "corpora"))
