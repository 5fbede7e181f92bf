#!/usr/bin/python3
"""SOAP adapter (issue 15): a REST -> SOAP route in Portico against the same
adapter written with zeep, and against calling the SOAP server directly.

The legacy SOAP server is nginx answering a canned GetAccount envelope
(`return 200 '<soap:Envelope ...>'`, one worker, pinned to CPU 1 with wrk)
so that it is never the bottleneck: it costs a few µs per call, far less
than either adapter. The WSDL is conf/soap/ledger.wsdl (the demo's ledger).
Four contenders, the same operation:

- portico: one worker, `GET /v1/accounts/:id` calling
  `ledger:GetAccount{ accountId = id }` (plugin "soap", upstream "ledger"
  with keep-alive) and answering the account as JSON;
- zeep:    tests/bench/soap_zeep_peer.py, Debian's python3-zeep client
  behind http.server's ThreadingHTTPServer, answering the same JSON;
- lua-floor: Portico with no SOAP plugin: the envelope written by hand,
  the same HTTP call (http.request), the answer picked apart with Lua
  patterns. Portico minus lua-floor is roughly what the plugin's XML and
  schema work costs (the floor's patterns are not free either);
- direct:  wrk POSTs the SOAP envelope to the SOAP server itself (a wrk
  Lua script), the floor Portico's hop adds to.

The adapter under test is pinned to CPU 0, wrk (and the SOAP server) to
CPU 1. Two phases, contenders alternating, ROUNDS rounds each, medians:
throughput (wrk -t1 -cCONNS) with the adapter's CPU µs per request
(utime+stime of all its threads from /proc/PID/stat) and the SOAP server's
(side), then latency with one connection (wrk -t1 -c1), where p50 is the
time of one call and nothing queues: Portico's added p50 is its p50 minus
direct's. The latency phase runs twice: the adapter on CPU 0 (each call
crosses CPUs four times: wrk -> adapter -> SOAP server -> adapter -> wrk),
then on CPU 1 with wrk and the SOAP server, as direct is (no wake-up
crosses CPUs: the hop's own work). Ratios are within the run.

Goal: portico >= 10x zeep's req/s, and <= 100 µs added p50 latency.

    tests/bench/soap_bench.py [--duration 5] [--lat-duration 3] [--rounds 3]
        [--conns 32] [--profile perf.txt] [--no-zeep] [--no-floor] [--rt]

--rt runs the latency phase of portico, lua-floor and direct (each with
wrk and the SOAP server) under SCHED_FIFO priority 1: on a machine shared
with busy processes a woken server otherwise waits for their time slices
(milliseconds), which is the machine, not the hop. The zeep adapter is
left out (at one connection it keeps CPU 0 busy, and real-time priority
would starve everything else there for the run); its latency is ms anyway.

--profile records Portico with `perf record --call-graph dwarf` under the
throughput load and writes `perf report`'s symbols with their inclusive
(children) and own shares to the file (no measuring).

Needs: wrk, nginx (nginx-light), taskset, python3-zeep, a built
core/portico and plugins/.libs/soap.so; chrt and root for --rt, perf for
--profile. Traffic goes to 127.0.0.1 only, every run is bounded in time
(the whole default run: about 3 minutes; stopped past 290 s) and only the
processes it starts are stopped. Results: doc/benchmarks.md.
"""
import argparse
import importlib.util
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from http_bench import PORTICO, ROOT, Server, TICK, cpu_busy, free_port, wait_port  # noqa: E402

WSDL = os.path.join(ROOT, "conf", "soap", "ledger.wsdl")
SOAP_SO = os.path.join(ROOT, "plugins", ".libs", "soap.so")
PEER = os.path.join(HERE, "soap_zeep_peer.py")
PATH = "/v1/accounts/2"
LIMIT_S = 290            # the whole run, whatever the options: stop past this

# What the legacy server answers (what scripts/demo-ledger says for account 2).
ANSWER = ('<?xml version="1.0" encoding="utf-8"?>'
          '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" '
          'xmlns:l="urn:example:ledger" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
          '<soap:Body><l:GetAccountResponse><l:account><l:id>2</l:id>'
          '<l:owner>Charles Babbage</l:owner><l:balance>2017.10</l:balance>'
          '<l:currency>EUR</l:currency><l:status>OPEN</l:status>'
          '<l:opened>2012-02-12T09:30:00Z</l:opened></l:account></l:GetAccountResponse>'
          '</soap:Body></soap:Envelope>')
# What a client sends for it (as Portico and zeep build it, give or take prefixes).
REQUEST = ('<?xml version="1.0" encoding="utf-8"?>\n'
           '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
           '<soapenv:Body><GetAccount xmlns="urn:example:ledger"><accountId>2</accountId>'
           '</GetAccount></soapenv:Body></soapenv:Envelope>')

# The floor of the hop, no SOAP plugin: the envelope written by hand, the
# same HTTP call (http.request, keep-alive), the answer picked apart with
# Lua patterns (no XML parser, no schema): what the route costs minus the
# plugin's XML and schema work.
FLOOR_ROUTE = """
local url = "http://127.0.0.1:%d/ledger"
local hdr = { ["content-type"] = "text/xml; charset=utf-8",
              soapaction = '"urn:example:ledger/GetAccount"' }
local ENV = '<?xml version="1.0" encoding="utf-8"?><soapenv:Envelope xmlns:soapenv=' ..
  '"http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><GetAccount xmlns=' ..
  '"urn:example:ledger"><accountId>%%d</accountId></GetAccount></soapenv:Body></soapenv:Envelope>'
route.get("/v1/accounts/:id", function(req)
  local id = math.tointeger(tonumber(req.params.id))
  if not id then return 400, { error = "id must be an integer" } end
  local r, err = http.request { method = "POST", url = url, headers = hdr,
                                body = ENV:format(id), timeout = 5 }
  if not r or r.status ~= 200 then return 502, { error = err or "status " .. r.status } end
  local a = r.body:match("<l:account>(.-)</l:account>")
  local function f(n) return a:match("<l:" .. n .. ">(.-)</l:" .. n .. ">") end
  return { id = math.tointeger(tonumber(f("id"))), owner = f("owner"),
           balance = tonumber(f("balance")), currency = f("currency"), status = f("status"),
           opened = f("opened") }
end)
"""

ROUTE = """
local ledger = soap.client("ledger")
route.get("/v1/accounts/:id", function(req)
  local id = math.tointeger(tonumber(req.params.id))
  if not id then return 400, { error = "id must be an integer" } end
  local r, fault = ledger:GetAccount({ accountId = id })
  if fault then return 502, { error = fault.reason } end
  return r.account
end)
"""


def legacy_server(work):
    """The canned SOAP server: nginx on CPU 1. (Popen, port)."""
    port = free_port()
    conf = os.path.join(work, "legacy.conf")
    with open(conf, "w") as f:
        f.write(f"""daemon off; master_process off; worker_processes 1;
error_log {work}/legacy-error.log warn; pid {work}/legacy.pid;
events {{ worker_connections 4096; }}
http {{ access_log off; keepalive_requests 1000000; client_body_temp_path {work};
  proxy_temp_path {work}; fastcgi_temp_path {work}; uwsgi_temp_path {work}; scgi_temp_path {work};
  client_body_buffer_size 16k;
  server {{ listen 127.0.0.1:{port};
    location = /ledger {{ default_type "text/xml; charset=utf-8"; return 200 '{ANSWER}'; }} }} }}
""")
    p = subprocess.Popen(["taskset", "-c", "1", "nginx", "-p", work, "-c", conf],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    return p, port


class Pinned(Server):
    """A server started on CPU self.cpu (0 unless a phase says otherwise)."""
    cpu = 0

    def start(self):
        self.proc = subprocess.Popen(["taskset", "-c", str(self.cpu)] + self.argv,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port)
        return self


def portico_server(work, legacy_port, name="portico", route=ROUTE):
    d = os.path.join(work, name)
    os.makedirs(os.path.join(d, "routes"), exist_ok=True)
    os.makedirs(os.path.join(d, "plugins"), exist_ok=True)
    soap = route is ROUTE
    if soap:
        os.symlink(SOAP_SO, os.path.join(d, "plugins", "soap.so"))
    with open(os.path.join(d, "routes", "bench.lua"), "w") as f:
        f.write(route)
    port = free_port()
    conf = os.path.join(d, "portico.conf")
    with open(conf, "w") as f:
        f.write(f'workers = 1\nplugins_dir = "{d}/plugins"\n'
                f'log = {{ level = "warn", file = "{d}/error.log" }}\n'
                f'listen {{ address = "127.0.0.1", port = {port} }}\n'
                f'upstream "ledger" {{ servers = {{ "127.0.0.1:{legacy_port}" }},\n'
                f'  timeout = {{ connect = 1, read = 5 }} }}\n'
                + (f'plugin "soap" {{ services = {{ ledger = {{ wsdl = "{WSDL}", '
                   f'upstream = "ledger", path = "/ledger" }} }} }}\n' if soap else "")
                + f'routes "{d}/routes"\n')
    return Pinned(name, [PORTICO, "-c", conf], port, port)


def zeep_server(legacy_port, conns):
    port = free_port()
    return Pinned("zeep", ["/usr/bin/python3", PEER, WSDL,
                           f"http://127.0.0.1:{legacy_port}/ledger", str(port),
                           str(max(conns, 10))], port, port)


class Direct(Server):
    """The SOAP server itself: already running, nothing to start or stop."""

    def __init__(self, proc, port):
        super().__init__("direct", [], port, port)
        self.proc = proc

    def start(self):
        return self

    def stop(self):
        pass


def soap_script(work):
    path = os.path.join(work, "soap.lua")
    with open(path, "w") as f:
        f.write('wrk.method = "POST"\n'
                'wrk.headers["content-type"] = "text/xml; charset=utf-8"\n'
                'wrk.headers["soapaction"] = \'"urn:example:ledger/GetAccount"\'\n'
                "wrk.body = %s\n" % json.dumps(REQUEST))
    return path


def cpu_us(pids):
    """utime+stime of each process in PIDS, every thread it ever ran: the
    process's /proc/PID/stat counts the threads that have exited (the zeep
    adapter's thread per connection ends with wrk's connection, before the
    second reading), which summing /proc/PID/task/* would miss."""
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total * 1e6 / TICK


def set_rt(pids, on):
    """Every thread of PIDS to SCHED_FIFO 1 (ON) or back to SCHED_OTHER."""
    for pid in pids:
        subprocess.run(["chrt", "-a", "-p"] + (["-f", "1"] if on else ["-o", "0"]) + [str(pid)],
                       check=True, stdout=subprocess.DEVNULL, timeout=10)


def run_wrk(server, conns, duration, script, rt=False):
    """wrk -t1 on CPU 1 against SERVER; rps, p50 and p99 (ms), requests, errors."""
    path = "/ledger" if isinstance(server, Direct) else PATH
    argv = (["chrt", "-f", "1"] if rt else []) + [
        "taskset", "-c", "1", "wrk", "-t1", f"-c{conns}", f"-d{duration}s", "--latency"]
    if isinstance(server, Direct):
        argv += ["-s", script]
    out = subprocess.run(argv + [f"http://127.0.0.1:{server.port}{path}"],
                         capture_output=True, text=True, timeout=duration + 30).stdout

    def pct(p):
        m = re.search(p + r"%\s+([\d.]+)(us|ms|s)\b", out)
        return float(m.group(1)) * {"us": 1e-3, "ms": 1, "s": 1e3}[m.group(2)]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "p50": pct("50"), "p99": pct("99"),
            "reqs": int(re.search(r"(\d+) requests in", out).group(1)),
            "errors": (int(errors.group(1)) if errors else 0)
            + (sum(int(x) for x in sock.groups()) if sock else 0)}


def measure(server, side_pids, conns, duration, script, rt=False):
    """One wrk run with the CPU each side used per request and how busy CPUs were."""
    pids = server.pids()
    before, side_before, busy_before = cpu_us(pids), cpu_us(side_pids), cpu_busy()
    m = run_wrk(server, conns, duration, script, rt)
    n = max(m.pop("reqs"), 1)
    busy = cpu_busy()
    m["us_req"] = (cpu_us(pids) - before) / n
    m["side_us_req"] = (cpu_us(side_pids) - side_before) / n
    for c in ("cpu0", "cpu1"):
        (b0, t0), (b1, t1) = busy_before[c], busy[c]
        m[c] = 100.0 * (b1 - b0) / max(t1 - t0, 1)
    return m


def get(server):
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}{PATH}", timeout=10) as r:
        return r.status, json.loads(r.read())


def check(servers):
    """Each adapter answers account 2 with the same fields and values (types
    aside: zeep's JSON has the decimal and the dateTime as strings)."""
    got = {}
    for s in servers:
        if isinstance(s, Direct):
            continue
        s.start()
        try:
            for _ in range(50):              # zeep takes a moment to load the WSDL
                try:
                    got[s.name] = get(s)
                    break
                except OSError:
                    time.sleep(0.1)
        finally:
            s.stop()
    for name, (status, body) in got.items():
        if status != 200 or body.get("owner") != "Charles Babbage" or body.get("id") != 2:
            sys.exit(f"soap_bench: {name} answered {status} {body}")
    keys = {name: sorted(b) for name, (_, b) in got.items()}
    if len({tuple(k) for k in keys.values()}) != 1:
        sys.exit(f"soap_bench: the adapters' answers differ: {got}")
    return got


def phase(title, servers, side_pids, rounds, conns, duration, script, rt=()):
    """RT: the names of the contenders run (with wrk and the SOAP server)
    under SCHED_FIFO: see --rt."""
    res = {s.name: [] for s in servers}
    for _ in range(rounds):
        for s in servers:
            s.start()
            try:
                if not isinstance(s, Direct):
                    for _ in range(50):
                        try:
                            get(s)
                            break
                        except OSError:
                            time.sleep(0.1)
                # warm up (zeep's first hundred calls are ten times slower), unmeasured
                run_wrk(s, conns, 1, script)
                rt_on = s.name in rt
                if rt_on:
                    set_rt(set(s.pids()) | set(side_pids), True)
                try:
                    res[s.name].append(measure(s, side_pids, conns, duration, script, rt_on))
                finally:
                    if rt_on:
                        set_rt(side_pids, False)
            finally:
                s.stop()
    print(f"\n== {title}: wrk -t1 -c{conns} -d{duration}s, {rounds} rounds, medians"
          + (f"; SCHED_FIFO: {', '.join(sorted(rt))}" if rt else ""))
    print(f"{'contender':<9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'cpu us/req':>10} "
          f"{'soap us/req':>11} {'cpu0 %':>6} {'cpu1 %':>6} {'errors':>6}   rounds (req/s)")
    med = {}
    for s in servers:
        rs = res[s.name]
        m = med[s.name] = {k: statistics.median(r[k] for r in rs) for k in rs[0]}
        print(f"{s.name:<9} {m['rps']:>8.0f} {m['p50']:>8.3f} {m['p99']:>8.3f} "
              f"{m['us_req']:>10.1f} {m['side_us_req']:>11.1f} {m['cpu0']:>6.1f} "
              f"{m['cpu1']:>6.1f} {m['errors']:>6.0f}   "
              + " ".join(f"{r['rps']:.0f}" for r in rs))
    return med


def profile(server, conns, duration, out):
    data = out + ".data"
    server.start()
    try:
        get(server)
        # dwarf: the distro's libraries have no frame pointers, and the
        # inclusive shares (which piece of the plugin) need whole chains
        perf = subprocess.Popen(["perf", "record", "-q", "--call-graph", "dwarf,16384",
                                 "-o", data, "-p",
                                 str(server.proc.pid), "--", "sleep", str(duration)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.2)
        run_wrk(server, conns, duration - 1, None)
        perf.wait(duration + 30)
    finally:
        server.stop()
    rep = subprocess.run(["perf", "report", "-i", data, "--children", "--stdio",
                          "--sort", "dso,symbol", "-g", "none", "--percent-limit", "1"],
                         capture_output=True, text=True, timeout=300).stdout
    with open(out, "w") as f:
        f.write("\n".join(line for line in rep.splitlines()
                          if line.strip() and not line.startswith("#")) + "\n")
    if not os.environ.get("KEEP_PERF_DATA"):
        os.unlink(data)
    print(f"profile: {out}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--lat-duration", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--conns", type=int, default=32)
    ap.add_argument("--profile", metavar="FILE")
    ap.add_argument("--no-zeep", action="store_true", help="no zeep adapter")
    ap.add_argument("--no-floor", action="store_true", help="no lua-floor route")
    ap.add_argument("--rt", action="store_true",
                    help="latency phase: portico, lua-floor and direct (with wrk and the SOAP "
                         "server) under SCHED_FIFO, so that other processes' CPU does not "
                         "delay their wake-ups on a shared machine (needs root)")
    a = ap.parse_args()
    for tool in ("wrk", "nginx", "taskset") + (("perf",) if a.profile else ()):
        if not shutil.which(tool):
            sys.exit(f"soap_bench: {tool} is not installed (apt-get install wrk nginx-light)")
    for f in (PORTICO, SOAP_SO):
        if not os.path.exists(f):
            sys.exit(f"soap_bench: {f} is missing: build first (make)")
    if not a.no_zeep:
        if importlib.util.find_spec("zeep") is None:
            sys.exit("soap_bench: python3-zeep is not installed (apt-get install python3-zeep)")
    # a bound on the whole run: SIGALRM ends it through the finally below
    signal.signal(signal.SIGALRM, lambda *_: sys.exit(f"soap_bench: over {LIMIT_S} s, stopped"))
    signal.alarm(LIMIT_S)
    work = tempfile.mkdtemp(prefix="portico-soapbench-")
    legacy = None
    servers = []
    try:
        legacy, legacy_port = legacy_server(work)
        portico = portico_server(work, legacy_port)
        if a.profile:
            profile(portico, a.conns, max(a.duration, 5), a.profile)
            return
        servers = [portico] + ([] if a.no_zeep else [zeep_server(legacy_port, a.conns)])
        if not a.no_floor:
            servers.append(portico_server(work, legacy_port, "lua-floor",
                                          FLOOR_ROUTE % legacy_port))
        servers.append(Direct(legacy, legacy_port))
        got = check(servers)
        print("answers: " + "; ".join(f"{n}: {json.dumps(b)}" for n, (_, b) in got.items()))
        script = soap_script(work)
        thr = phase("throughput", servers, [legacy.pid], a.rounds, a.conns, a.duration, script)
        rt = ("portico", "lua-floor", "direct") if a.rt else ()
        lat = phase("latency, one connection", servers, [legacy.pid], a.rounds, 1,
                    a.lat_duration, script, rt)
        # the same with the adapter on CPU 1 too, as direct is: no wake-up
        # crosses CPUs, so only the hop's own work is added
        same = [s for s in servers if s.name != "zeep"]
        for s in same:
            s.cpu = 1
        lat1 = phase("latency, one connection, everything on CPU 1", same, [legacy.pid],
                     a.rounds, 1, a.lat_duration, script, rt)
        p, d = thr["portico"], thr["direct"]
        print("\ncpu us/req: the adapter's own (direct: the SOAP server's); soap us/req: the "
              "SOAP server's.\ncpu1 near 100% means the load side (wrk + SOAP server) caps "
              "req/s.")
        if "zeep" in thr:
            z = thr["zeep"]
            print(f"ratio portico/zeep: req/s {p['rps'] / z['rps']:.1f}x (goal >= 10), "
                  f"cpu/req {p['us_req'] / z['us_req']:.3f}, p50 under load "
                  f"{p['p50'] / z['p50']:.3f}")
            # when CPU 0 is shared with other busy processes, req/s is the
            # scheduler's share (zeep's 32 threads get more of it than one
            # worker does); requests per CPU second are what each would serve
            # with a CPU of its own
            print(f"requests per CPU second: portico {1e6 / p['us_req']:.0f}, zeep "
                  f"{1e6 / z['us_req']:.0f}: {z['us_req'] / p['us_req']:.1f}x")
        added = (lat["portico"]["p50"] - lat["direct"]["p50"]) * 1000
        added1 = (lat1["portico"]["p50"] - lat1["direct"]["p50"]) * 1000
        print(f"added p50 latency of Portico's hop (one connection): {added:.0f} us with the "
              f"adapter on CPU 0, {added1:.0f} us with everything on CPU 1 (goal <= 100); "
              f"portico p50 {lat['portico']['p50'] * 1000:.0f} / "
              f"{lat1['portico']['p50'] * 1000:.0f} us, direct "
              f"{lat['direct']['p50'] * 1000:.0f} / {lat1['direct']['p50'] * 1000:.0f} us"
              + (f", zeep {lat['zeep']['p50'] * 1000:.0f} us" if "zeep" in lat else ""))
        print(f"portico req/s over calling the SOAP server directly: "
              f"{p['rps'] / d['rps']:.2f}")
        if "lua-floor" in thr:
            f = thr["lua-floor"]
            print(f"the soap plugin's share: portico {p['us_req']:.1f} - lua-floor "
                  f"{f['us_req']:.1f} = {p['us_req'] - f['us_req']:.1f} cpu us/req; added p50 "
                  f"of the floor's hop {(lat['lua-floor']['p50'] - lat['direct']['p50']) * 1000:.0f}"
                  f" / {(lat1['lua-floor']['p50'] - lat1['direct']['p50']) * 1000:.0f} us")
        print(json.dumps({"throughput": thr, "latency": lat, "latency_cpu1": lat1,
                          "added_p50_us": added, "added_p50_us_cpu1": added1}))
    finally:
        signal.alarm(0)
        for s in servers:
            s.stop()
        if legacy and legacy.poll() is None:
            legacy.terminate()
            legacy.wait(10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
