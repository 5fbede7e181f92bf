#!/usr/bin/python3
"""WebSocket: Portico's websocket plugin against Node's npm `ws` (issue 12).

    (a) echo: round trips per second at 100 connections, one message in
        flight on each (64-byte text messages), with p50/p99 latency;
    (b) fan-out: one POST /publish reaching 10,000 connections, the time
        from the POST until the last connection has it (p50/p99/max over
        --publishes publishes; "has it" is the kernel's receive timestamp
        on ws_load's socket, SO_TIMESTAMPNS, so the time ws_load's one
        thread takes to read 10,000 sockets is not counted; the time until
        it has read them is shown too), then a sustained flood on the same
        connections (at most 4 publishes not yet everywhere): deliveries/s;
    (c) memory per idle connection: the server's RSS with 10,000 idle
        connections open minus its RSS before (after a short warm-up),
        divided by 10,000.

The load comes from ws_load.c (one epoll thread in C, built here with
cc -O2 into a temp dir), pinned to CPU 1; the server (one Portico worker,
or one Node process) to CPU 0. Servers run alternately, a fresh process
per test, --rounds rounds; medians are reported with the server's CPU time
per message (utime+stime of all its threads from /proc/PID/task/*/stat)
and the load generator's own CPU share (near 100 %: ws_load, not the
server, set the rate; compare CPU per message then). With tick-based CPU
accounting, loopback delivery done in softirq is not charged to either
process: it shows in "CPU 0 busy", with whatever else ran there. A
markdown report goes to tests/bench/results/ws-YYYY-MM-DD.md.

    tests/bench/ws_bench.py [--quick] [--rounds 3] [--duration 5]
                            [--servers portico,ws] [--tests idle,echo,fanout]
                            [--publishes 20] [--nice -5]

Needs: cc, node 20, npm (installs tests/bench/package.json's ws on first
run), taskset, a built core/portico and plugins/.libs/websocket.so (or
PORTICO_BIN and PORTICO_WS_PLUGIN naming another build's). 10,000
connections need `ulimit -n` (hard) of about 10,100: the script raises its
soft limit to the hard one for itself and its children. Traffic goes to
127.0.0.1 only and every step is bounded in time.
"""
import argparse
import datetime
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from http_bench import ROOT, PORTICO, TICK, Server, cpu_busy, free_port  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
NICE = []   # ["nice", "-n", N] with --nice: server and ws_load
RESULTS = os.path.join(HERE, "results")
WS_PLUGIN = os.environ.get("PORTICO_WS_PLUGIN",
                           os.path.join(ROOT, "plugins", ".libs", "websocket.so"))

ROUTES = """
-- ws_bench.py: the same three URLs as ws_peer.js
websocket.endpoint("/ws/echo", {
  on_message = function(conn, msg, binary) conn:send(msg, binary) end,
})
websocket.endpoint("/ws/bench", { channels = { "bench" } })
route.post("/publish", function(req)
  return 200, tostring(hub.publish("bench", req.body))
end)
"""


def portico_server(work):
    port = free_port()
    os.makedirs(os.path.join(work, "routes"), exist_ok=True)
    with open(os.path.join(work, "routes", "bench.lua"), "w") as f:
        f.write(ROUTES)
    plugins = os.path.join(work, "plugins")   # the websocket plugin alone
    os.makedirs(plugins, exist_ok=True)
    if not os.path.exists(os.path.join(plugins, "websocket.so")):
        os.symlink(WS_PLUGIN, os.path.join(plugins, "websocket.so"))
    conf = os.path.join(work, "portico.conf")
    with open(conf, "w") as f:
        f.write(f'workers = 1\nplugins_dir = "{plugins}"\n'
                f'log = {{ level = "warn", file = "{work}/portico.log" }}\n'
                f'listen {{ address = "127.0.0.1", port = {port} }}\n'
                f'routes "{work}/routes"\n')
    return Server("portico", NICE + [PORTICO, "-c", conf], port, port)


def ws_server(work):
    port = free_port()
    return Server("ws", NICE + ["node", os.path.join(HERE, "ws_peer.js"), str(port)], port, port)


def cpu_us(pids):
    """User and system CPU microseconds of PIDS and all their threads."""
    user = system = 0
    for pid in pids:
        for task in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{task}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except FileNotFoundError:   # a thread that just ended
                continue
            user += int(fields[11])
            system += int(fields[12])
    return user * 1e6 / TICK, system * 1e6 / TICK


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def parse_result(line):
    words = line.split()
    return {k: float(v) for k, v in (w.split("=", 1) for w in words[2:])}


def drive(load, args, timeout, on_line=None, stdin=False):
    """Runs LOAD (ws_load) on CPU 1 with ARGS, killed after TIMEOUT seconds.
    Calls ON_LINE(line, proc) for each stdout line as it comes. Returns
    {mode: {key: value}} of its "result" lines."""
    p = subprocess.Popen(["taskset", "-c", "1"] + NICE + [load] + args, text=True,
                         stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    timer = threading.Timer(timeout, p.kill)
    timer.start()
    results = {}
    try:
        for line in p.stdout:
            if on_line:
                on_line(line, p)
            if line.startswith("result "):
                results[line.split()[1]] = parse_result(line)
        p.wait()
    finally:
        timer.cancel()
        if p.poll() is None:
            p.kill()
            p.wait()
    err = p.stderr.read()
    if p.returncode != 0 or not results:
        raise RuntimeError(f"ws_load {args[0]} failed (exit {p.returncode}): "
                           f"{err.strip()[-600:] or 'no result'}")
    return results


class CpuMarks:
    """Samples the server's CPU time, and ws_load's own, at each "# start"
    and "result" line of ws_load: one span per timed phase. ws_load's share
    of a CPU near 100 % says the load generator, not the server, set the
    rate (the machine's other work is not in it)."""

    def __init__(self, pids):
        self.pids, self.spans, self.mark = pids, [], None

    def __call__(self, line, proc):
        if line.startswith("# start"):
            self.mark = (cpu_us(self.pids), sum(cpu_us([proc.pid])), time.monotonic(),
                         cpu_busy())
        elif line.startswith("result ") and self.mark:
            (u0, s0), load0, t0, busy0 = self.mark
            u1, s1 = cpu_us(self.pids)
            busy1 = cpu_busy()
            secs = max(time.monotonic() - t0, 1e-3)
            load_pct = (sum(cpu_us([proc.pid])) - load0) / 1e4 / secs
            server_pct = (u1 - u0 + s1 - s0) / 1e4 / secs
            cpu0 = 100.0 * (busy1["cpu0"][0] - busy0["cpu0"][0]) / max(
                busy1["cpu0"][1] - busy0["cpu0"][1], 1)
            self.spans.append((u1 - u0, s1 - s0, load_pct, server_pct, cpu0))
            self.mark = None


def test_echo(load, s, a):
    marks = CpuMarks(s.pids())
    r = drive(load, ["echo", "--port", str(s.port), "--path", "/ws/echo",
                     "--conns", str(a.echo_conns), "--seconds", str(a.duration),
                     "--size", str(a.size)], a.duration + 90, marks)["echo"]
    if r["errors"] or r["closed"]:
        raise RuntimeError(f"{s.name} echo: {r['errors']:.0f} errors, {r['closed']:.0f} closed")
    user, system, load_pct, server_pct, cpu0 = marks.spans[0]
    n = max(r["roundtrips"], 1)
    return {"echo_rps": r["rate"], "echo_p50_ms": r["p50_us"] / 1e3,
            "echo_p99_ms": r["p99_us"] / 1e3, "echo_us": (user + system) / n,
            "echo_user_us": user / n, "echo_sys_us": system / n,
            "echo_cap": 1e6 * n / max(user + system, 1),
            "echo_load": load_pct, "echo_server": server_pct, "echo_cpu0": cpu0}


def test_fanout(load, s, a):
    marks = CpuMarks(s.pids())
    r = drive(load, ["fanout", "--port", str(s.port), "--path", "/ws/bench",
                     "--conns", str(a.conns), "--count", str(a.publishes),
                     "--seconds", str(a.duration), "--size", str(a.size)],
              a.duration + a.publishes * 6 + 150, marks)
    f, fl = r["fanout"], r["flood"]
    if f["complete"] < a.publishes or fl["incomplete"] or f["closed"] or fl["closed"]:
        raise RuntimeError(f"{s.name} fanout: {f['complete']:.0f}/{a.publishes} publishes "
                           f"reached everyone, {fl['incomplete']:.0f} flood publishes did not, "
                           f"{fl['closed']:.0f} connections closed")
    fan_user, fan_system = marks.spans[0][:2]
    user, system, load_pct, server_pct, cpu0 = marks.spans[-1]
    n = max(fl["delivered"], 1)
    if not f["stamped"]:
        raise RuntimeError("the kernel gave no receive timestamps (SO_TIMESTAMPNS)")
    return {"fan_p50_ms": f["p50_ms"], "fan_p99_ms": f["p99_ms"], "fan_max_ms": f["max_ms"],
            "fan_first_ms": f["first_p50_ms"], "fan_read_p99_ms": f["read_p99_ms"],
            "flood_rate": fl["rate"], "flood_us": (user + system) / n,
            "flood_user_us": user / n, "flood_sys_us": system / n,
            "flood_cap": 1e6 * n / max(user + system, 1),
            "flood_load": load_pct, "flood_server": server_pct, "flood_cpu0": cpu0,
            "fan_us": (fan_user + fan_system) / (a.publishes * a.conns)}


def test_idle(load, s, a):
    # warm-up: the code paths and first allocations are not per connection
    drive(load, ["echo", "--port", str(s.port), "--path", "/ws/echo", "--conns", "10",
                 "--seconds", "0.5"], 60)
    time.sleep(1)
    pid = s.pids()[0]
    before = rss_kib(pid)
    seen = {}

    def on_line(line, p):
        if line.startswith("# holding"):
            time.sleep(2)   # let the server finish with the last upgrades
            seen["rss"] = rss_kib(pid)
            p.stdin.close()

    r = drive(load, ["idle", "--port", str(s.port), "--path", "/ws/echo",
                     "--conns", str(a.idle_conns), "--seconds", "120"], 180, on_line,
              stdin=True)["idle"]
    if r["open"] < a.idle_conns or "rss" not in seen:
        raise RuntimeError(f"{s.name} idle: {r['open']:.0f} of {a.idle_conns} stayed open")
    return {"rss_before_mib": before / 1024, "rss_idle_mib": seen["rss"] / 1024,
            "kib_per_conn": (seen["rss"] - before) / a.idle_conns}


TESTS = [("idle", test_idle), ("echo", test_echo), ("fanout", test_fanout)]

# (key, label, format, better: "higher" | "lower", goal for portico/ws or None)
ROWS = [
    ("echo_rps", "(a) echo round trips/s, 100 conns", "{:.0f}", "higher", (">=", 3)),
    ("echo_p50_ms", "(a) echo latency p50 ms", "{:.2f}", "lower", None),
    ("echo_p99_ms", "(a) echo latency p99 ms", "{:.2f}", "lower", None),
    ("echo_us", "(a) server CPU us per round trip", "{:.2f}", "lower", None),
    ("echo_user_us", "(a) of which user space", "{:.2f}", "lower", None),
    ("echo_sys_us", "(a) of which kernel", "{:.2f}", "lower", None),
    ("echo_cap", "(a) round trips per server CPU second", "{:.0f}", "higher", (">=", 3)),
    ("echo_server", "(a) server process CPU %", "{:.0f}", None, None),
    ("echo_cpu0", "(a) CPU 0 busy % (anything, softirq included)", "{:.0f}", None, None),
    ("echo_load", "(a) ws_load CPU % (100: it set the pace)", "{:.0f}", None, None),
    ("fan_p50_ms", "(b) fan-out to last conn p50 ms", "{:.1f}", "lower", ("<=", 1 / 3)),
    ("fan_p99_ms", "(b) fan-out to last conn p99 ms", "{:.1f}", "lower", ("abs<", 50)),
    ("fan_max_ms", "(b) fan-out to last conn max ms", "{:.1f}", "lower", None),
    ("fan_first_ms", "(b) fan-out to first conn p50 ms", "{:.2f}", "lower", None),
    ("fan_read_p99_ms", "(b) fan-out until ws_load read the last, p99 ms", "{:.1f}", "lower",
     None),
    ("fan_us", "(b) server CPU us per delivery, timed publishes", "{:.2f}", "lower", None),
    ("flood_rate", "(b) sustained deliveries/s", "{:.0f}", "higher", (">=", 3)),
    ("flood_us", "(b) server CPU us per delivery", "{:.2f}", "lower", None),
    ("flood_user_us", "(b) of which user space", "{:.2f}", "lower", None),
    ("flood_sys_us", "(b) of which kernel", "{:.2f}", "lower", None),
    ("flood_cap", "(b) deliveries per server CPU second", "{:.0f}", "higher", (">=", 3)),
    ("flood_server", "(b) server process CPU %", "{:.0f}", None, None),
    ("flood_cpu0", "(b) CPU 0 busy % (anything, softirq included)", "{:.0f}", None, None),
    ("flood_load", "(b) ws_load CPU % (100: it set the pace)", "{:.0f}", None, None),
    ("rss_before_mib", "(c) server RSS before, MiB", "{:.1f}", None, None),
    ("rss_idle_mib", "(c) server RSS with idle conns, MiB", "{:.1f}", None, None),
    ("kib_per_conn", "(c) KiB per idle connection", "{:.2f}", "lower", ("<=", 0.2)),
]


def report(res, servers, a, notes):
    """The markdown table of medians with ratios and the goals."""
    names = [s.name for s in servers]
    med = {}
    for n in names:
        med[n] = {}
        for k, _, _, _, _ in ROWS:
            vals = [r[k] for r in res[n] if k in r]
            if vals:
                med[n][k] = statistics.median(vals)
    both = "portico" in med and "ws" in med
    head = "| metric | " + " | ".join(names) + (" | portico/ws | goal |" if both else " |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for k, label, fmt, better, goal in ROWS:
        cells = [fmt.format(med[n][k]) if k in med[n] else "–" for n in names]
        row = f"| {label} | " + " | ".join(cells)
        if both:
            p, w = med["portico"].get(k), med["ws"].get(k)
            ratio = f"{p / w:.2f}" if p is not None and w else "–"
            g = ""
            if goal and p is not None:
                op, x = goal
                if op == "abs<":
                    g = f"< {x} ms: {'met' if p < x else 'missed'}"
                elif w:
                    ok = p / w >= x if op == ">=" else p / w <= x
                    g = f"{op} {x:.2g}: {'met' if ok else 'missed'}"
            row += f" | {ratio} | {g}"
        lines.append(row + " |")
    counts = ", ".join(f"{n}: {len(res[n])} run(s)" for n in names)
    cpu = "unknown CPU"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    text = [f"# WebSocket benchmark, {datetime.date.today().isoformat()}", "",
            f"Machine: {os.cpu_count()} cores ({cpu}), Linux {platform.release()}; the server "
            "on CPU 0, ws_load on CPU 1, other work on the machine not excluded"
            + (f" (both at nice {a.nice})." if a.nice else "."),
            f"Portico {git_rev()}, one worker; node {node_version()}, ws {ws_version()} "
            "(with bufferutil).",
            f"Medians of {a.rounds} round(s) ({counts}), a fresh server per test; {a.size}-byte "
            f"text messages; echo {a.echo_conns} connections for {a.duration} s; fan-out "
            f"{a.conns} connections, {a.publishes} timed publishes (p99 of fewer than 100 "
            f"is the slowest), then a {a.duration} s flood (window 4); idle {a.idle_conns} "
            "connections.", ""] + lines
    if notes:
        text += ["", "Notes:"] + [f"* {n}" for n in notes]
    return "\n".join(text) + "\n"


def git_rev():
    try:
        return subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"


def node_version():
    return subprocess.run(["node", "--version"], capture_output=True, text=True,
                          timeout=10).stdout.strip()


def ws_version():
    import json
    try:
        with open(os.path.join(HERE, "node_modules", "ws", "package.json")) as f:
            return json.load(f)["version"]
    except OSError:
        return "?"


def prepare(a, work):
    """Checks the machine, raises the descriptor limit, installs ws, builds
    ws_load. Returns the ws_load path."""
    for tool in ("cc", "taskset") + (("node", "npm") if "ws" in a.servers else ()):
        if not shutil.which(tool):
            sys.exit(f"ws_bench: {tool} is not installed")
    need = max(a.conns, a.idle_conns) + 200
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < need:
        sys.exit(f"ws_bench: {max(a.conns, a.idle_conns)} connections need {need} descriptors; "
                 f"the hard limit (ulimit -Hn) is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        lo, hi = map(int, f.read().split())
    if hi - lo + 1 < need:
        sys.exit(f"ws_bench: net.ipv4.ip_local_port_range has {hi - lo + 1} ports, "
                 f"fewer than {need}")
    if "portico" in a.servers:
        for path in (PORTICO, WS_PLUGIN):
            if not os.path.exists(path):
                sys.exit(f"ws_bench: {path} is missing: build Portico first")
    if "ws" in a.servers and not os.path.exists(os.path.join(HERE, "node_modules", "ws")):
        subprocess.run(["npm", "ci", "--prefix", HERE, "--no-audit", "--no-fund"],
                       check=True, timeout=300)
    load = os.path.join(work, "ws_load")
    subprocess.run(["cc", "-O2", "-Wall", "-o", load, os.path.join(HERE, "ws_load.c")],
                   check=True, timeout=120)
    return load


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=float, default=5, help="seconds of echo and of flood")
    ap.add_argument("--conns", type=int, default=10000, help="fan-out connections")
    ap.add_argument("--idle-conns", type=int, default=10000)
    ap.add_argument("--echo-conns", type=int, default=100)
    ap.add_argument("--publishes", type=int, default=20, help="timed fan-out publishes")
    ap.add_argument("--size", type=int, default=64, help="message bytes")
    ap.add_argument("--servers", default="portico,ws", help="portico,ws or one of them")
    ap.add_argument("--tests", default="idle,echo,fanout")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: 1 round, 1 s, 1000 connections, 5 publishes")
    ap.add_argument("--out", help="markdown report path (default results/ws-DATE.md)")
    ap.add_argument("--nice", type=int, default=0,
                    help="run server and ws_load at this nice value (below 0 needs root): "
                         "on a machine doing other work, latency otherwise measures the "
                         "scheduler")
    a = ap.parse_args()
    if a.nice:
        NICE[:] = ["nice", "-n", str(a.nice)]
    if a.quick:
        a.rounds, a.duration, a.conns, a.idle_conns, a.publishes = 1, 1, 1000, 1000, 5
    a.servers = [s for s in a.servers.split(",") if s]
    if not a.servers or set(a.servers) - {"portico", "ws"}:
        sys.exit("ws_bench: --servers takes portico, ws or portico,ws")
    tests = [t for t in TESTS if t[0] in a.tests.split(",")]
    work = tempfile.mkdtemp(prefix="portico-wsbench-")
    load = prepare(a, work)
    makers = {"portico": portico_server, "ws": ws_server}
    servers = [makers[n](work) for n in a.servers]
    res = {s.name: [] for s in servers}
    notes = []
    try:
        for rnd in range(a.rounds):
            for s in servers:
                row = {}
                for name, fn in tests:
                    s.start()
                    try:
                        row.update(fn(load, s, a))
                    except RuntimeError as e:
                        notes.append(f"round {rnd + 1}: {e}")
                        print(f"ws_bench: {e}", file=sys.stderr)
                    finally:
                        s.stop()
                    time.sleep(1)
                print(f"round {rnd + 1} {s.name}: " +
                      ", ".join(f"{k}={v:.3g}" for k, v in row.items()), flush=True)
                res[s.name].append(row)
    finally:
        for s in servers:
            s.stop()
        if "portico" in a.servers and os.path.exists(os.path.join(work, "portico.log")):
            with open(os.path.join(work, "portico.log")) as f:
                tail = f.read()[-2000:]
            if tail.strip():
                print("portico.log (tail):\n" + tail, file=sys.stderr)
    text = report(res, servers, a, notes)
    print(text)
    out = a.out or os.path.join(RESULTS, f"ws-{datetime.date.today().isoformat()}.md")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w") as f:
        f.write(text)
    print(f"written to {out}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
