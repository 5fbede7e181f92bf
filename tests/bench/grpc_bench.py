#!/usr/bin/python3
"""gRPC: Portico's grpc plugin (a Lua handler) against grpc-js, grpcio and
C++ gRPC servers doing the same (issue 13, item 9).

Every server implements bench.Echo from grpc_echo.proto:

    Echo  unary, answers the request message;
    Chat  bidi, sends every message of the stream back.

    portico  one worker; grpc.service("bench.Echo", { Echo = function(req)
             return req end, Chat = ... }) with the contract compiled at
             start (plugin "grpc" { protos = {...} });
    grpc-js  @grpc/grpc-js + @grpc/proto-loader on Node, one process
             (grpc_peer.js, tests/bench/package.json);
    grpcio   Debian's python3-grpcio, asyncio server (grpc_peer.py);
    cpp      Debian's libgrpc++ with the callback API (grpc_peer.cc, built
             here with g++ -O2 into a temp folder).

Tests, each on a fresh server process:

    unary   h2load -c16 -m10 (one thread) POSTing a prebuilt gRPC request
            (5-byte length prefix + a protobuf Msg with a 100-byte payload)
            to /bench.Echo/Echo for --duration s after 2 s of warm-up:
            req/s, p99, server CPU us per call (utime+stime of all its
            threads from /proc/PID/task/*/stat) and the server's resident
            set under load (the largest VmRSS sampled every 0.2 s, and
            VmHWM at the end);
    stream  one Chat stream from grpc_stream.c (one thread on libnghttp2,
            gRPC framing by hand: the same client for every server, and
            light enough that the server sets the pace) keeping --window
            messages in flight: echoed messages per second, p50/p99 from
            write to echo, server CPU us per message.
    callgrind  (asked for by name) user-space instructions per unary call
            of portico and cpp under valgrind's callgrind, the difference
            of a 12,000-call and a 2,000-call run over 10,000: a figure
            other work on a shared machine does not move.

Before it is measured, every server is asked once with a real client
(python3-grpcio) and its answer decoded and compared; h2load's responses are
checked by count (every request done, 2xx) and by size (the DATA bytes per
response must be the 107 an echo has: an error answer has none). The server
is pinned to CPU 0, h2load and grpc_stream to CPU 1; servers run alternately,
--rounds rounds; medians are reported with the ratios Portico/grpc-js and
Portico/C++ against the goals (>= 8x and >= 1.5x req/s at lower CPU per call,
p99 no worse, RSS under load at most a fifth of grpc-js's). A markdown
report goes to tests/bench/results/grpc-YYYY-MM-DD.md.

    tests/bench/grpc_bench.py [--quick] [--rounds 3] [--duration 5]
                              [--servers portico,grpc-js,grpcio,cpp]
                              [--tests unary,stream,callgrind] [--window 16]
                              [--nice -5]

Needs: h2load (nghttp2-client), taskset, protoc (protobuf-compiler), g++, cc,
libnghttp2-dev, pkg-config, libgrpc++-dev and grpc_cpp_plugin
(protobuf-compiler-grpc), python3-grpcio and python3-protobuf, valgrind (for
callgrind only), node 20 and npm (installs
tests/bench/package.json on first run), a built core/portico and
plugins/.libs/grpc.so (or PORTICO_BIN and PORTICO_GRPC_PLUGIN naming
another build's); without the plugin Portico is skipped with a message and
the peers are measured. Traffic goes to 127.0.0.1 only, every step is
bounded in time, and only the processes this script started are stopped.
"""
import argparse
import datetime
import os
import platform
import re
import resource
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from http_bench import (ROOT, PORTICO, TICK, Server, free_port,  # noqa: E402
                        wait_port)

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO = os.path.join(HERE, "grpc_echo.proto")
RESULTS = os.path.join(HERE, "results")
GRPC_PLUGIN = os.environ.get("PORTICO_GRPC_PLUGIN",
                             os.path.join(ROOT, "plugins", ".libs", "grpc.so"))
PYTHON = "/usr/bin/python3"   # Debian's python3-grpcio is visible to it only
SERVERS = ("portico", "grpc-js", "grpcio", "cpp")
NICE = []   # ["nice", "-n", N] with --nice: the server, h2load and grpc_stream

ROUTES = """
-- grpc_bench.py: bench.Echo as grpc_peer.js, grpc_peer.py and grpc_peer.cc serve it
grpc.service("bench.Echo", {
  Echo = function(req) return req end,
  Chat = function(ctx) for m in ctx:recv() do ctx:send(m) end end,
})
"""


def grpc_request(size):
    """A gRPC message frame (uncompressed) of a bench.Msg with SIZE payload
    bytes, encoded by hand: field 1, wire type 2."""
    payload = bytes((ord("a") + i % 26) for i in range(size))
    msg = b"\x0a" + varint(size) + payload
    return b"\x00" + struct.pack(">I", len(msg)) + msg, payload


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


# ---- the servers ---------------------------------------------------------------

class GrpcServer(Server):
    """http_bench's Server, with its stderr kept in WORK/NAME.stderr for the
    message when it does not start or answer."""

    def __init__(self, name, argv, port, work):
        super().__init__(name, argv, port, port)
        self.errfile = os.path.join(work, name + ".stderr")

    def start(self):
        with open(self.errfile, "w") as err:
            self.proc = subprocess.Popen(["taskset", "-c", "0"] + NICE + self.argv,
                                         stdout=subprocess.DEVNULL, stderr=err)
        try:
            wait_port(self.port)
        except RuntimeError as e:
            raise RuntimeError(f"{e}; its stderr: {self.stderr_tail()}")
        return self

    def stderr_tail(self):
        try:
            with open(self.errfile) as f:
                return f.read().strip()[-600:] or "(empty)"
        except OSError:
            return "(none)"


def portico_server(work):
    port = free_port()
    os.makedirs(os.path.join(work, "routes"), exist_ok=True)
    with open(os.path.join(work, "routes", "bench.lua"), "w") as f:
        f.write(ROUTES)
    plugins = os.path.join(work, "plugins")   # the grpc plugin alone
    os.makedirs(plugins, exist_ok=True)
    if not os.path.exists(os.path.join(plugins, "grpc.so")):
        os.symlink(GRPC_PLUGIN, os.path.join(plugins, "grpc.so"))
    conf = os.path.join(work, "portico.conf")
    with open(conf, "w") as f:
        f.write(f'workers = 1\nplugins_dir = "{plugins}"\n'
                f'log = {{ level = "warn", file = "{work}/portico.log" }}\n'
                f'listen {{ address = "127.0.0.1", port = {port} }}\n'
                f'plugin "grpc" {{ protos = {{ "{PROTO}" }}, import_paths = {{ "{HERE}" }} }}\n'
                f'routes "{work}/routes"\n')
    return GrpcServer("portico", [PORTICO, "-c", conf], port, work)


def grpcjs_server(work):
    port = free_port()
    return GrpcServer("grpc-js", ["node", os.path.join(HERE, "grpc_peer.js"), str(port)], port,
                      work)


def grpcio_server(work):
    port = free_port()
    return GrpcServer("grpcio", [PYTHON, os.path.join(HERE, "grpc_peer.py"), str(port), work],
                      port, work)


def cpp_server(work):
    port = free_port()
    return GrpcServer("cpp", [os.path.join(work, "grpc_peer"), str(port)], port, work)


MAKERS = {"portico": portico_server, "grpc-js": grpcjs_server, "grpcio": grpcio_server,
          "cpp": cpp_server}


def verify(port, payload, work):
    """Calls Echo and one Chat round trip with python3-grpcio (in a child
    process, so this script loads no gRPC threads) and compares the decoded
    answers. Raises RuntimeError naming what was wrong."""
    code = f"""
import sys
sys.path.insert(0, {work!r})
import grpc, grpc_echo_pb2 as pb


def check(ch):
    want = pb.Msg(payload={payload!r})
    echo = ch.unary_unary("/bench.Echo/Echo", request_serializer=pb.Msg.SerializeToString,
                          response_deserializer=pb.Msg.FromString)
    got, call = echo.with_call(want, timeout=10)
    if got != want or call.code() != grpc.StatusCode.OK:
        sys.exit(f"Echo answered {{got.payload[:40]!r}} ({{len(got.payload)}} bytes), "
                 f"status {{call.code()}}")
    chat = ch.stream_stream("/bench.Echo/Chat", request_serializer=pb.Msg.SerializeToString,
                            response_deserializer=pb.Msg.FromString)
    msgs = [pb.Msg(payload=b"one"), want, pb.Msg(payload=b"")]
    got = list(chat(iter(msgs), timeout=10))
    if got != msgs:
        sys.exit(f"Chat answered {{[m.payload[:20] for m in got]!r}}")


with grpc.insecure_channel("127.0.0.1:{port}") as ch:
    try:
        check(ch)
    except grpc.RpcError as e:
        sys.exit(f"{{e.code()}}: {{e.details()}}")
"""
    r = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, timeout=60)
    if r.returncode:
        raise RuntimeError(f"wrong answer: {(r.stderr or r.stdout).strip()[-600:]}")


# ---- measuring -----------------------------------------------------------------

def cpu_us(pids):
    """User + system CPU microseconds of PIDS and all their threads (gRPC's
    thread pools start and end threads: one gone meanwhile is skipped)."""
    total = 0
    for pid in pids:
        for task in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{task}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            total += int(fields[11]) + int(fields[12])
    return total * 1e6 / TICK


def cpu0_jiffies():
    """CPU 0's busy, softirq, steal and total jiffies from /proc/stat."""
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu0 "):
                v = [int(x) for x in line.split()[1:]]
                return sum(v) - v[3] - v[4], v[6], v[7], sum(v)
    raise RuntimeError("no cpu0 in /proc/stat")


def cpu0_shares(before, after, server_pct):
    """CPU 0 between two cpu0_jiffies(): busy %, of which softirq % (loopback
    delivery, charged to no process) and steal % (the hypervisor's), and the
    rest that was neither the server nor those: other work on the machine."""
    d = [b - a for a, b in zip(before, after)]
    total = max(d[3], 1)
    busy, softirq, steal = (100.0 * x / total for x in d[:3])
    return busy, softirq, steal, max(busy - softirq - steal - server_pct, 0.0)


def rss_kib(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                out[line.split(":")[0]] = int(line.split()[1])
    return out


class RssSampler(threading.Thread):
    """The largest VmRSS of PID seen every 0.2 s until stop()."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.halt = pid, 0, threading.Event()

    def run(self):
        while not self.halt.wait(0.2):
            try:
                self.peak = max(self.peak, rss_kib(self.pid)["VmRSS"])
            except (OSError, KeyError):
                return

    def stop(self):
        self.halt.set()
        self.join(5)
        return self.peak


def children_cpu_s():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def h2load(port, a, reqfile, duration, log=None):
    """h2load on CPU 1 posting REQFILE to Echo for DURATION s. Returns its
    stdout; raises RuntimeError when it failed."""
    argv = ["taskset", "-c", "1"] + NICE + ["h2load", "-t1", f"-c{a.conns}", f"-m{a.streams}",
            "-D", str(duration), "-d", reqfile, "-H", "content-type: application/grpc",
            "-H", "te: trailers"]
    if log:
        argv += ["--log-file", log]
    r = subprocess.run(argv + [f"http://127.0.0.1:{port}/bench.Echo/Echo"],
                       capture_output=True, text=True, timeout=duration + 60)
    if r.returncode or "finished in" not in r.stdout:
        raise RuntimeError(f"h2load failed (exit {r.returncode}): "
                           f"{(r.stderr or r.stdout).strip()[-400:]}")
    return r.stdout


def num(pattern, text, what):
    m = re.search(pattern, text)
    if not m:
        raise RuntimeError(f"h2load printed no {what}")
    return float(m.group(1))


def test_unary(s, a, work):
    reqfile = os.path.join(work, "request.bin")
    h2load(s.port, a, reqfile, 2)   # warm-up: connections, first allocations, JITs
    pid = s.pids()[0]
    log = os.path.join(work, "h2load.log")
    sampler = RssSampler(pid)
    sampler.start()
    cpu0, load0, busy0 = cpu_us(s.pids()), children_cpu_s(), cpu0_jiffies()
    t0 = time.monotonic()
    try:
        out = h2load(s.port, a, reqfile, a.duration, log)
    finally:
        peak = sampler.stop()
    secs = time.monotonic() - t0
    used = cpu_us(s.pids()) - cpu0
    load_pct = 100 * (children_cpu_s() - load0) / secs
    busy1 = cpu0_jiffies()
    mem = rss_kib(pid)
    rps = num(r"finished in [\d.]+\w+, ([\d.]+) req/s", out, "req/s")
    done = num(r"requests: \d+ total, \d+ started, (\d+) done", out, "request count")
    bad = num(r"succeeded, (\d+) failed", out, "failure count") + num(
        r"(\d+) errored", out, "error count") + num(r"(\d+) timeout", out, "timeouts")
    # h2load counts a status when the headers come and DATA as it comes:
    # responses cut off by the end of the run may be counted in "2xx" and
    # in part in the bytes, but not in "done"
    ok = num(r"status codes: (\d+) 2xx", out, "status count")
    data = num(r"(\d+)\) data", out, "DATA bytes")
    want = os.path.getsize(reqfile)
    if not done or bad or ok < done or not done * want <= data <= ok * want:
        raise RuntimeError(f"{s.name} unary: {done:.0f} done, {bad:.0f} failed, {ok:.0f} 2xx, "
                           f"{data / max(ok, 1):.1f} DATA bytes per 2xx response (an echo "
                           f"has {want})")
    with open(log) as f:
        lat = sorted(int(line.split("\t")[2]) for line in f if line.count("\t") >= 2)
    os.unlink(log)
    return {"rps": rps, "p50_ms": lat[len(lat) // 2] / 1000,
            "p99_ms": lat[int(len(lat) * 0.99) - 1] / 1000,
            "us_call": used / done, "calls_per_cpu_s": 1e6 * done / max(used, 1),
            "server_pct": used / 1e4 / secs, "load_pct": load_pct,
            **dict(zip(("cpu0_pct", "softirq_pct", "steal_pct", "other_pct"),
                       cpu0_shares(busy0, busy1, used / 1e4 / secs))),
            "rss_mib": peak / 1024, "hwm_mib": mem["VmHWM"] / 1024}


def test_stream(s, a, work):
    """One Chat stream from grpc_stream on CPU 1; CPU sampled at its
    "# start" and "result" lines."""
    p = subprocess.Popen(["taskset", "-c", "1"] + NICE + [os.path.join(work, "grpc_stream"),
                          str(s.port), str(a.duration), str(a.window), str(a.size)],
                         text=True, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    timer = threading.Timer(a.duration + 60, p.kill)
    timer.start()
    mark = span = result = None
    pid = s.pids()[0]
    try:
        for line in p.stdout:
            if line.startswith("# start"):
                mark = (cpu_us(s.pids()), cpu_us([p.pid]), time.monotonic(),
                        cpu0_jiffies())
            elif line.startswith("result ") and mark:
                c0, l0, t0, b0 = mark
                secs = max(time.monotonic() - t0, 1e-3)
                used = cpu_us(s.pids()) - c0
                span = (used, (cpu_us([p.pid]) - l0) / 1e4 / secs, secs,
                        cpu0_shares(b0, cpu0_jiffies(), used / 1e4 / secs), rss_kib(pid))
                result = {k: float(v) for k, v in
                          (w.split("=", 1) for w in line.split()[2:])}
        p.wait()
    finally:
        timer.cancel()
        if p.poll() is None:
            p.kill()
            p.wait()
    err = p.stderr.read().strip()
    if p.returncode or not result or not span:
        raise RuntimeError(f"{s.name} stream: grpc_stream exit {p.returncode}: "
                           f"{err[-600:] or 'no result'}")
    used, load_pct, secs, shares, mem = span
    n = max(result["messages"], 1)
    return {"msg_rate": result["rate"], "msg_p50_us": result["p50_us"],
            "msg_p99_us": result["p99_us"], "us_msg": used / n,
            "msg_server_pct": used / 1e4 / secs, "msg_load_pct": load_pct,
            "msg_rss_mib": mem["VmRSS"] / 1024,
            **dict(zip(("msg_cpu0_pct", "msg_softirq_pct", "msg_steal_pct", "msg_other_pct"),
                       shares))}


def callgrind_count(s, calls, a, work):
    """Instructions (user space, libraries included) S executed under
    callgrind from its start to its exit, having served CALLS unary calls."""
    out = os.path.join(work, f"callgrind.{s.name}.out")
    proc = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]
                            + s.argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(s.port, 120)   # slow under valgrind: the contract is compiled at start
        argv = ["h2load", "-t1", f"-c{a.conns}", f"-m{a.streams}", "-n", str(calls),
                "-d", os.path.join(work, "request.bin"), "-H",
                "content-type: application/grpc", "-H", "te: trailers",
                f"http://127.0.0.1:{s.port}/bench.Echo/Echo"]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=300)
        if f"{calls} succeeded" not in r.stdout:
            raise RuntimeError(f"{s.name} under callgrind: {r.stdout.strip()[-300:]}")
    finally:
        proc.terminate()
        try:
            proc.wait(120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    with open(out) as f:
        for line in f:
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    raise RuntimeError(f"{s.name}: callgrind wrote no total")


def test_callgrind(s, a, work):
    """User-space instructions per unary call, counted by callgrind, which
    other work on the machine does not change: two runs of the server, of
    2,000 and 12,000 calls, the difference over 10,000 (start-up and exit
    cancel out). For portico and cpp: Node's JIT and CPython under valgrind
    would not say what they cost outside it."""
    few, many = 2000, 12000
    diff = callgrind_count(s, many, a, work) - callgrind_count(s, few, a, work)
    return {"ir_call": diff / (many - few)}


TESTS = [("unary", test_unary), ("stream", test_stream)]

# (key, label, format, goal of portico/grpc-js, goal of portico/cpp); a goal
# is (op, x): ">=" or "<=" on the ratio, "<" strictly
ROWS = [
    ("rps", "unary req/s", "{:.0f}", (">=", 8), (">=", 1.5)),
    ("ir_call", "user-space instructions per call (callgrind)", "{:.0f}", ("<", 1), ("<", 1)),
    ("p50_ms", "unary latency p50 ms", "{:.2f}", None, None),
    ("p99_ms", "unary latency p99 ms", "{:.2f}", ("<=", 1), ("<=", 1)),
    ("us_call", "server CPU us per call", "{:.2f}", ("<", 1), ("<", 1)),
    ("calls_per_cpu_s", "calls per server CPU second", "{:.0f}", None, None),
    ("server_pct", "server process CPU %", "{:.0f}", None, None),
    ("cpu0_pct", "CPU 0 busy % (anything)", "{:.0f}", None, None),
    ("softirq_pct", "of which softirq % (loopback delivery)", "{:.0f}", None, None),
    ("steal_pct", "of which steal % (hypervisor)", "{:.0f}", None, None),
    ("other_pct", "of which other work % (the machine's noise)", "{:.0f}", None, None),
    ("load_pct", "h2load CPU % (100: it set the pace)", "{:.0f}", None, None),
    ("rss_mib", "server RSS under load, MiB (largest VmRSS)", "{:.1f}", ("<=", 0.2), None),
    ("hwm_mib", "server VmHWM after the run, MiB", "{:.1f}", ("<=", 0.2), None),
    ("msg_rate", "bidi stream messages/s", "{:.0f}", None, None),
    ("msg_p50_us", "bidi stream latency p50 us", "{:.0f}", None, None),
    ("msg_p99_us", "bidi stream latency p99 us", "{:.0f}", None, None),
    ("us_msg", "server CPU us per streamed message", "{:.2f}", None, None),
    ("msg_server_pct", "stream: server process CPU %", "{:.0f}", None, None),
    ("msg_cpu0_pct", "stream: CPU 0 busy %", "{:.0f}", None, None),
    ("msg_softirq_pct", "stream: of which softirq %", "{:.0f}", None, None),
    ("msg_steal_pct", "stream: of which steal %", "{:.0f}", None, None),
    ("msg_other_pct", "stream: of which other work %", "{:.0f}", None, None),
    ("msg_load_pct", "stream: grpc_stream CPU % (100: it set the pace)", "{:.0f}", None, None),
    ("msg_rss_mib", "stream: server RSS, MiB", "{:.1f}", None, None),
]


def goal_text(goal, ratio):
    if not goal or ratio is None:
        return ""
    op, x = goal
    ok = {">=": ratio >= x, "<=": ratio <= x, "<": ratio < x}[op]
    return f" ({op} {x:g}: {'met' if ok else 'missed'})"


def report(res, names, a, notes, versions):
    """The markdown table of medians, with the ratios and the goals."""
    med = {}
    for n in names:
        med[n] = {}
        for k, *_ in ROWS:
            vals = [r[k] for r in res[n] if k in r]
            if vals:
                med[n][k] = statistics.median(vals)
    pairs = [(peer, i) for i, peer in ((0, "grpc-js"), (1, "cpp"))
             if "portico" in med and peer in med]
    head = "| metric | " + " | ".join(names) + "".join(
        f" | portico/{peer}" for peer, _ in pairs) + " |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for k, label, fmt, *goals in ROWS:
        if not any(k in med[n] for n in names):
            continue
        cells = [fmt.format(med[n][k]) if k in med[n] else "–" for n in names]
        row = f"| {label} | " + " | ".join(cells)
        for peer, i in pairs:
            p, w = med["portico"].get(k), med[peer].get(k)
            ratio = p / w if p is not None and w else None
            row += " | " + (f"{ratio:.2f}" if ratio is not None else "–")
            row += goal_text(goals[i], ratio)
        lines.append(row + " |")
    counts = ", ".join(f"{n}: {len(res[n])}" for n in names)
    cpu = "unknown CPU"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    text = [f"# gRPC benchmark, {datetime.date.today().isoformat()}", "",
            f"Machine: {os.cpu_count()} cores ({cpu}), Linux {platform.release()}; the server "
            "on CPU 0, h2load and grpc_stream on CPU 1, other work on the machine not "
            "excluded" + (f" (server and load at nice {a.nice})." if a.nice else "."),
            f"Versions: {versions}.",
            f"Medians of {a.rounds} round(s) (rounds measured: {counts}), a fresh server per "
            f"test; unary: h2load -t1 -c{a.conns} -m{a.streams}, {a.duration} s after 2 s of "
            f"warm-up, {a.size}-byte payload; stream: one bidi stream, {a.window} messages "
            f"in flight, {a.duration} s after 1 s of warm-up.", ""] + lines
    if notes:
        text += ["", "Notes:"] + [f"* {n}" for n in notes]
    return "\n".join(text) + "\n"


def run_quiet(argv):
    try:
        return subprocess.run(argv, capture_output=True, text=True,
                              timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"


def versions(names):
    v = []
    if "portico" in names:
        v.append("portico " + run_quiet(["git", "-C", os.path.dirname(os.path.realpath(
            GRPC_PLUGIN)), "rev-parse", "--short", "HEAD"]) + " (the grpc plugin's tree; "
            "one worker)")
    if "grpc-js" in names:
        import json
        with open(os.path.join(HERE, "node_modules", "@grpc", "grpc-js", "package.json")) as f:
            v.append(f"@grpc/grpc-js {json.load(f)['version']} on node "
                     + run_quiet(["node", "--version"]))
    if "grpcio" in names:
        v.append("python3-grpcio " + run_quiet(
            [PYTHON, "-c", "import grpc; print(grpc.__version__)"]) + " (grpc.aio)")
    if "cpp" in names:
        v.append("libgrpc++ " + run_quiet(["pkg-config", "--modversion", "grpc++"])
                 + " (callback API)")
    v.append("grpc_stream on libnghttp2 " + run_quiet(["pkg-config", "--modversion",
                                                       "libnghttp2"]))
    return "; ".join(v)


def prepare(a, work):
    """Checks the tools, installs the npm peer, generates the code for the
    contract and builds grpc_peer and grpc_stream into WORK, writes the
    request. Drops portico from A.servers (with a message) when the grpc
    plugin is not built."""
    need = ["h2load", "taskset", "protoc", "g++", "cc", "pkg-config", "grpc_cpp_plugin"]
    if "grpc-js" in a.servers:
        need += ["node", "npm"]
    if "callgrind" in a.tests:
        need += ["valgrind"]
    for tool in need:
        if not shutil.which(tool):
            sys.exit(f"grpc_bench: {tool} is not installed (apt-get install nghttp2-client "
                     "protobuf-compiler protobuf-compiler-grpc libgrpc++-dev g++ pkg-config "
                     "python3-grpcio python3-protobuf nodejs npm)")
    if subprocess.run([PYTHON, "-c", "import grpc, google.protobuf"],
                      capture_output=True, timeout=60).returncode:
        sys.exit("grpc_bench: python3-grpcio and python3-protobuf are needed for the "
                 "check of each server's answer")
    if "portico" in a.servers:
        missing = [p for p in (PORTICO, GRPC_PLUGIN) if not os.path.exists(p)]
        if missing:
            print(f"grpc_bench: skipping portico: {', '.join(missing)} not built (the grpc "
                  "plugin of issue 13; build Portico with it, or set PORTICO_BIN and "
                  "PORTICO_GRPC_PLUGIN). Measuring the peers only.", file=sys.stderr)
            a.servers.remove("portico")
    if "grpc-js" in a.servers and not os.path.exists(
            os.path.join(HERE, "node_modules", "@grpc", "grpc-js")):
        subprocess.run(["npm", "ci", "--prefix", HERE, "--no-audit", "--no-fund"],
                       check=True, timeout=300)
    plugin = shutil.which("grpc_cpp_plugin")
    subprocess.run(["protoc", "-I", HERE, f"--cpp_out={work}", f"--grpc_out={work}",
                    f"--python_out={work}", f"--plugin=protoc-gen-grpc={plugin}", PROTO],
                   check=True, timeout=60)
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "grpc++", "protobuf"],
                           check=True, capture_output=True, text=True,
                           timeout=30).stdout.split()
    cxx = ["g++", "-O2", "-std=c++17", "-I", work]
    objs = []
    for src in ("grpc_echo.pb.cc", "grpc_echo.grpc.pb.cc"):
        obj = os.path.join(work, src.replace(".cc", ".o"))
        subprocess.run(cxx + ["-c", os.path.join(work, src), "-o", obj] + flags,
                       check=True, timeout=600)
        objs.append(obj)
    subprocess.run(cxx + [os.path.join(HERE, "grpc_peer.cc")] + objs
                   + ["-o", os.path.join(work, "grpc_peer")] + flags + ["-lpthread"],
                   check=True, timeout=600)
    subprocess.run(["cc", "-O2", "-Wall", "-o", os.path.join(work, "grpc_stream"),
                    os.path.join(HERE, "grpc_stream.c"), "-lnghttp2"], check=True, timeout=120)
    frame, payload = grpc_request(a.size)
    with open(os.path.join(work, "request.bin"), "wb") as f:
        f.write(frame)
    return payload


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=float, default=5, help="seconds of each timed run")
    ap.add_argument("--conns", type=int, default=16, help="h2load connections")
    ap.add_argument("--streams", type=int, default=10, help="h2load streams per connection")
    ap.add_argument("--size", type=int, default=100, help="payload bytes of a message")
    ap.add_argument("--window", type=int, default=16,
                    help="messages in flight on the bidi stream")
    ap.add_argument("--servers", default=",".join(SERVERS))
    ap.add_argument("--tests", default="unary,stream",
                    help="some of unary,stream,callgrind (callgrind: instructions per call "
                         "of portico and cpp under valgrind, which other work does not "
                         "change; about two minutes)")
    ap.add_argument("--quick", action="store_true", help="smoke run: 1 round of 1 s")
    ap.add_argument("--out", help="markdown report path (default results/grpc-DATE.md)")
    ap.add_argument("--nice", type=int, default=0,
                    help="run the server and the load at this nice value (below 0 needs "
                         "root): on a machine doing other work, CPU 0 is otherwise shared")
    a = ap.parse_args()
    if a.nice:
        NICE[:] = ["nice", "-n", str(a.nice)]
    if a.quick:
        a.rounds, a.duration = 1, 1
    asked = [s for s in a.servers.split(",") if s]
    if not asked or set(asked) - set(SERVERS):
        sys.exit(f"grpc_bench: --servers takes some of {','.join(SERVERS)}")
    a.servers = [s for s in SERVERS if s in asked]   # portico first
    if not 8 <= a.size <= 100000 or a.duration <= 0 or a.rounds < 1:
        sys.exit("grpc_bench: --size 8..100000, --duration > 0, --rounds >= 1")
    a.tests = [t for t in a.tests.split(",") if t]
    if not a.tests or set(a.tests) - {"unary", "stream", "callgrind"}:
        sys.exit("grpc_bench: --tests takes some of unary,stream,callgrind")
    tests = [t for t in TESTS if t[0] in a.tests]
    work = tempfile.mkdtemp(prefix="portico-grpcbench-")
    notes = []
    try:
        payload = prepare(a, work)
        if "portico" not in a.servers:
            notes.append("Portico was not measured: the grpc plugin was not built.")
        servers = [MAKERS[n](work) for n in a.servers]
        if "portico" in a.servers:   # the config and the Lua file against this build's plugin
            r = subprocess.run(servers[0].argv + ["-t"], capture_output=True, text=True,
                               timeout=60)
            if r.returncode:
                why = (r.stderr or r.stdout).strip()
                log = os.path.join(work, "portico.log")
                if os.path.exists(log):
                    with open(log) as f:
                        why = " ".join(line.split("] ", 1)[-1].strip() for line in f
                                       if "[error]" in line) or why
                    os.unlink(log)
                msg = ("Portico was not measured: `portico -t` refused the bench config: "
                       + why[-600:])
                print(f"grpc_bench: {msg}", file=sys.stderr)
                notes.append(msg)
                servers.pop(0)
                a.servers.remove("portico")
        res = {s.name: [] for s in servers}
        for rnd in range(a.rounds):
            for s in servers:
                row = {}
                for name, fn in tests:
                    try:
                        s.start()
                        try:
                            verify(s.port, payload, work)
                        except RuntimeError as e:
                            raise RuntimeError(f"{e}; its stderr: {s.stderr_tail()}")
                        row.update(fn(s, a, work))
                    except (RuntimeError, subprocess.SubprocessError) as e:
                        notes.append(f"round {rnd + 1}, {s.name} {name}: {e}")
                        print(f"grpc_bench: {s.name} {name}: {e}", file=sys.stderr)
                    finally:
                        s.stop()
                    time.sleep(0.5)
                print(f"round {rnd + 1} {s.name}: " +
                      ", ".join(f"{k}={v:.3g}" for k, v in row.items()), flush=True)
                if row:
                    res[s.name].append(row)
        for s in servers:
            if "callgrind" in a.tests and s.name in ("portico", "cpp"):
                try:
                    row = test_callgrind(s, a, work)
                except (RuntimeError, subprocess.SubprocessError) as e:
                    notes.append(f"{s.name} callgrind: {e}")
                    print(f"grpc_bench: {s.name} callgrind: {e}", file=sys.stderr)
                    continue
                print(f"{s.name}: {row['ir_call']:.0f} instructions per call", flush=True)
                for r in res[s.name] or [{}]:
                    r.update(row)
                if not res[s.name]:
                    res[s.name].append(row)
        text = report(res, a.servers, a, notes, versions(a.servers))
    finally:
        if os.path.exists(os.path.join(work, "portico.log")):
            with open(os.path.join(work, "portico.log")) as f:
                tail = f.read()[-2000:]
            if tail.strip():
                print("portico.log (tail):\n" + tail, file=sys.stderr)
        shutil.rmtree(work, ignore_errors=True)
    print(text)
    out = a.out or os.path.join(RESULTS, f"grpc-{datetime.date.today().isoformat()}.md")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w") as f:
        f.write(text)
    print(f"written to {out}")


if __name__ == "__main__":
    main()
