#!/usr/bin/python3
"""HTTP/1.1 (wrk) and h2c (h2load) against Portico and Debian's nginx.

Both serve a fixed 13-byte response ("Hello, World!") from one worker with no
access log. The server is pinned to CPU 0 and the load generator to CPU 1;
the servers run alternately, 3 rounds, and medians are reported with the
server's CPU time per request (utime+stime from /proc/PID/stat), which tells
servers apart when the load generator is the bottleneck.

    tests/bench/http_bench.py [--duration 5] [--rounds 3] [--conns 50]

Needs: wrk, h2load (nghttp2-client), nginx (nginx-light), a built core/portico.
Traffic goes to 127.0.0.1 only and every run is bounded in time.
"""
import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PORTICO = os.environ.get("PORTICO_BIN", os.path.join(ROOT, "core", "portico"))
TICK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port}")


def cpu_us(pids):
    total = 0
    for pid in pids:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])   # utime, stime
    return total * 1e6 / TICK


class Server:
    def __init__(self, name, argv, port, h2port, pids_fn=None):
        self.name, self.argv, self.port, self.h2port = name, argv, port, h2port
        self.proc = None
        self.pids_fn = pids_fn

    def start(self):
        self.proc = subprocess.Popen(["taskset", "-c", "0"] + self.argv,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port)
        wait_port(self.h2port)
        return self

    def pids(self):
        return self.pids_fn() if self.pids_fn else [self.proc.pid]

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


PIPELINE_LUA = """
init = function(args)
  local r = {}
  for i = 1, %d do r[i] = wrk.format(nil, "%s") end
  req = table.concat(r)
end
request = function() return req end
"""


def run_wrk(port, conns, duration, path="/hello", pipeline=1, script=None):
    """wrk on CPU 1. PIPELINE > 1 sends that many requests per write (HTTP/1.1
    pipelining), so the load generator stops being the bottleneck and the
    servers' own cost per request shows; wrk's latency is then per batch."""
    argv = ["taskset", "-c", "1", "wrk", "-t1", f"-c{conns}", f"-d{duration}s", "--latency"]
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as tmp:
        if pipeline > 1:
            tmp.write(PIPELINE_LUA % (pipeline, path))
            tmp.flush()
            script = tmp.name
        if script:   # a wrk Lua script of the caller's (e.g. a POST body)
            argv += ["-s", script]
        out = subprocess.run(argv + [f"http://127.0.0.1:{port}{path}"],
                             capture_output=True, text=True, timeout=duration + 30).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    reqs = int(re.search(r"(\d+) requests in", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    p99_ms = float(p99.group(1)) * {"us": 1e-3, "ms": 1, "s": 1e3}[p99.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, p99_ms, reqs, int(errors.group(1)) if errors else 0


def run_h2load(port, conns, streams, duration):
    with tempfile.NamedTemporaryFile("r", suffix=".log") as log:
        out = subprocess.run(["taskset", "-c", "1", "h2load", "-c", str(conns), "-m",
                              str(streams), "-D", str(duration), "--log-file", log.name,
                              f"http://127.0.0.1:{port}/hello"],
                             capture_output=True, text=True, timeout=duration + 30).stdout
        lat = sorted(int(line.split("\t")[2]) for line in log if line.count("\t") >= 2)
    rps = float(re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out).group(1))
    done = int(re.search(r"requests: \d+ total, \d+ started, (\d+) done", out).group(1))
    ok = int(re.search(r"status codes: (\d+) 2xx", out).group(1))
    p99_ms = lat[int(len(lat) * 0.99) - 1] / 1000 if lat else float("nan")
    return rps, p99_ms, done, done - ok


def cpu_busy():
    """Busy and total jiffies of CPU 0 and CPU 1, from /proc/stat."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            name, *vals = line.split()
            if name in ("cpu0", "cpu1"):
                v = [int(x) for x in vals]
                out[name] = (sum(v) - v[3] - v[4], sum(v))   # minus idle, iowait
    return out


def measure(server, fn, side_pids=()):
    """Runs FN (a load generator) against SERVER. With SIDE_PIDS (processes
    the load side needs, e.g. the upstream a proxy talks to) it also reports
    their CPU per request and how busy each CPU was: when CPU 1 (the load
    side) is saturated, req/s no longer tells the servers apart."""
    pids = server.pids()
    before, side_before, busy_before = cpu_us(pids), cpu_us(side_pids), cpu_busy()
    rps, p99, reqs, errors = fn()
    used = cpu_us(pids) - before
    m = {"rps": rps, "p99": p99, "us_req": used / max(reqs, 1), "errors": errors}
    if side_pids:
        busy = cpu_busy()
        m["side_us_req"] = (cpu_us(side_pids) - side_before) / max(reqs, 1)
        for c in ("cpu0", "cpu1"):
            b0, t0 = busy_before[c]
            b1, t1 = busy[c]
            m[c] = 100.0 * (b1 - b0) / max(t1 - t0, 1)
    return m


def compare_wrk(servers, rounds, conns, duration, path, pipeline=1, script=None,
                side_pids=()):
    """Runs wrk against SERVERS (portico first, the peer second) alternately,
    ROUNDS times; prints medians and the ratio portico/peer. SIDE_PIDS: see
    measure()."""
    res = {s.name: [] for s in servers}
    for _ in range(rounds):
        for s in servers:
            s.start()
            try:
                res[s.name].append(measure(s, lambda: run_wrk(s.port, conns, duration, path,
                                                                   pipeline, script),
                                           side_pids))
            finally:
                s.stop()
    print(f"{'server':<10} {'req/s':>10} {'p99 ms':>8} {'cpu us/req':>10} {'errors':>6}"
          + (f" {'side us/req':>12} {'cpu0 %':>6} {'cpu1 %':>6}" if side_pids else ""))
    med = {}
    for s in servers:
        med[s.name] = {k: statistics.median(r[k] for r in res[s.name]) for k in res[s.name][0]}
        m = med[s.name]
        print(f"{s.name:<10} {m['rps']:>10.0f} {m['p99']:>8.2f} {m['us_req']:>10.2f} "
              f"{m['errors']:>6.0f}"
              + (f" {m['side_us_req']:>12.2f} {m['cpu0']:>6.1f} {m['cpu1']:>6.1f}"
                 if side_pids else ""))
    p, n = med[servers[0].name], med[servers[1].name]
    print(f"ratio {servers[0].name}/{servers[1].name}: req/s {p['rps'] / n['rps']:.2f}, p99 "
          f"{p['p99'] / n['p99']:.2f} (lower is better), cpu/req "
          f"{p['us_req'] / n['us_req']:.2f} (lower is better)")


def portico_server(work):
    port = free_port()
    conf = os.path.join(work, "portico.conf")
    with open(conf, "w") as f:
        f.write(f'workers = 1\nplugins_dir = "{work}"\nlog = {{ level = "warn" }}\n'
                f'listen {{ address = "127.0.0.1", port = {port} }}\n'
                'route { method = "GET", path = "/hello", handler = "static", '
                'content_type = "text/plain", body = "Hello, World!" }\n')
    return Server("portico", [PORTICO, "-c", conf], port, port)


def nginx_server(work):
    port, h2port = free_port(), free_port()
    conf = os.path.join(work, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"""daemon off; master_process off; worker_processes 1;
error_log {work}/nginx-error.log warn; pid {work}/nginx.pid;
events {{ worker_connections 4096; }}
http {{
  access_log off; default_type text/plain; keepalive_requests 1000000;
  client_body_temp_path {work}; proxy_temp_path {work}; fastcgi_temp_path {work};
  uwsgi_temp_path {work}; scgi_temp_path {work};
  server {{ listen 127.0.0.1:{port}; location = /hello {{ return 200 "Hello, World!"; }} }}
  server {{ listen 127.0.0.1:{h2port} http2; http2_max_requests 1000000;
           location = /hello {{ return 200 "Hello, World!"; }} }}
}}
""")
    return Server("nginx", ["nginx", "-p", work, "-c", conf], port, h2port)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--conns", type=int, default=50)
    a = ap.parse_args()
    for tool in ("wrk", "h2load", "nginx", "taskset"):
        if not shutil.which(tool):
            sys.exit(f"http_bench: {tool} is not installed (apt-get install wrk nghttp2-client nginx-light)")
    work = tempfile.mkdtemp(prefix="portico-bench-")
    servers = [portico_server(work), nginx_server(work)]
    tests = {
        "http/1.1 wrk": lambda s: (lambda: run_wrk(s.port, a.conns, a.duration)),
        "h2c h2load": lambda s: (lambda: run_h2load(s.h2port, 10, 10, a.duration)),
    }
    results = {(t, s.name): [] for t in tests for s in servers}
    try:
        for r in range(a.rounds):
            for s in servers:
                s.start()
                try:
                    for t, mk in tests.items():
                        results[(t, s.name)].append(measure(s, mk(s)))
                finally:
                    s.stop()
        print(f"{'test':<14} {'server':<8} {'req/s':>10} {'p99 ms':>8} {'cpu us/req':>10} {'errors':>6}")
        for t in tests:
            med = {}
            for s in servers:
                rs = results[(t, s.name)]
                med[s.name] = {k: statistics.median(x[k] for x in rs) for k in rs[0]}
                m = med[s.name]
                print(f"{t:<14} {s.name:<8} {m['rps']:>10.0f} {m['p99']:>8.2f} "
                      f"{m['us_req']:>10.2f} {m['errors']:>6.0f}")
            p, n = med["portico"], med["nginx"]
            print(f"{t:<14} ratio portico/nginx: req/s {p['rps'] / n['rps']:.2f}, "
                  f"p99 {p['p99'] / n['p99']:.2f} (lower is better), "
                  f"cpu/req {p['us_req'] / n['us_req']:.2f} (lower is better)")
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
