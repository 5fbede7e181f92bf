#!/usr/bin/python3
"""The protocol sandwich end to end (issue 17 item 5): an order's path
REST create -> SOAP customer check -> gRPC Create -> hub -> WebSocket push.

The demo daemon runs from the shipped conf/ (conf/portico.conf with its
ports, pid_file, var_dir and log rewritten, the access log off unless
--access-log, an admin listener added for /metrics; conf/routes as they
are), with the legacy CRM (scripts/demo-crm) it calls. The load generator,
tests/bench/sandwich_load.c (one epoll thread in C, built here with cc -O2
into a temp dir), holds --subs WebSocket subscribers on /ws/orders and
sends POST /v1/orders (a JWT each) at a steady open-loop rate: order i is
due at start + i/rate whatever happened to the earlier ones, on an idle
keep-alive connection of a pool. Each order carries the item "sb<i>",
which the hub's message repeats, so every WebSocket message is matched to
its POST. Latencies run from the order's due time (a late generator shows
in them instead of hiding):

    ws     POST due -> a subscriber has read the order's message (every
           delivery: orders x subscribers); ws last: the last subscriber
    rest   POST due -> the 201's last byte

The daemon (every process of it) is pinned to CPU 0; the generator and
the CRM to CPU 1 (the first two CPUs the script may use; with one, all
share it). "cpu us/order" is the daemon's utime+stime (from
/proc/PID/stat, workers included) over the timed phase divided by the
orders sent; the generator's own CPU share ("gen %", of one core) and the
CRM's CPU per order are shown so a reader can tell who limited what.
Each (rate, subscribers) point runs --rounds times on a fresh daemon
(after a short warm-up) and medians are printed; then the mean time of
each hop from the daemon's /metrics (the SOAP call to the CRM, the
grpc.call to orders.v1.Orders including the Create handler, the handlers
themselves) for the split.

    tests/bench/sandwich_bench.py [--quick] [--rates 200,1000,3000]
        [--subs 1,100] [--duration 10] [--rounds 3] [--crm demo|stub]
        [--workers N] [--access-log] [--keep]
        [--profile FILE [--profile-rate 1000]]
        [--callgrind FILE [--callgrind-orders 300] [--callgrind-subs 1]]

--quick: one round of 2 s at 200 orders/s with 1 subscriber (a smoke
run). --crm demo (the default) runs scripts/demo-crm as shipped; it is
Python, ~0.3 ms of CPU per call on CPU 1, and falls behind near 1000/s.
--crm stub: sandwich_load's C stand-in answering the same envelopes, so
that Portico, not the CRM, sets the rate. --profile FILE: after the
table, perf record -g of the daemon at --profile-rate with 1 subscriber,
perf report by object and by symbol to FILE. --callgrind FILE: the
daemon under valgrind --tool=callgrind, counters zeroed after a warm-up,
then --callgrind-orders orders at 20/s: instructions per order by object
and by function to FILE (steady on a busy machine, unlike times; user
space only).

Needs: cc, taskset, /usr/bin/python3 (scripts/demo-crm), a built
core/portico and plugins/.libs (make), perf for --profile. Traffic goes to
127.0.0.1 only; every step is bounded in time and the script stops by
itself. Exits 77 (skipped) when the demo has no shop yet (no
scripts/demo-crm, or no POST /v1/orders calling orders.v1.Orders/Create).
"""
import argparse
import base64
import glob
import hashlib
import hmac
import json
import math
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
from http_bench import PORTICO, ROOT, TICK, free_port, wait_port  # noqa: E402

ROOT = os.environ.get("PORTICO_SRCDIR", ROOT)
CONF = os.path.join(ROOT, "conf")
CRM = os.path.join(ROOT, "scripts", "demo-crm")
PLUGINS = os.path.join(os.environ.get("PORTICO_BUILDDIR", ROOT), "plugins", ".libs")
SKIP = 77
# the daemon on the first CPU this process may use, the load side on the
# second (CPU 0 and 1 on the usual machine); one CPU: both on it
_CPUS = sorted(os.sched_getaffinity(0))
DAEMON_CPU = str(_CPUS[0])
LOAD_CPU = str(_CPUS[1] if len(_CPUS) > 1 else _CPUS[0])
CRM_NAME = {"demo": "scripts/demo-crm", "stub": "C stand-in (sandwich_load crm)"}


def shop_missing():
    """Why the shop's path cannot be measured here, or None."""
    if not os.path.exists(CRM):
        return "scripts/demo-crm is not there (the shop of issue 17 is not in this tree)"
    for p in sorted(glob.glob(os.path.join(CONF, "routes", "*.lua"))):
        with open(p) as f:
            text = f.read()
        if "/v1/orders" in text and "orders.v1.Orders/Create" in text:
            return None
    return "no conf/routes/*.lua has POST /v1/orders calling orders.v1.Orders/Create"


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def jwt(secret, iss, sub, ttl=3600):
    now = int(time.time())
    head = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64url(json.dumps({"sub": sub, "iss": iss, "iat": now, "exp": now + ttl}).encode())
    sig = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64url(sig)}"


def sub_once(pattern, repl, text, what):
    new, n = re.subn(pattern, repl, text, count=1, flags=re.S)
    if n != 1:
        sys.exit(f"sandwich_bench: conf/portico.conf changed shape: no {what} to rewrite")
    return new


def rate_limit():
    """(limit, period, key) of POST /v1/orders's rate option, or None."""
    for p in sorted(glob.glob(os.path.join(CONF, "routes", "*.lua"))):
        with open(p) as f:
            text = f.read()
        i = text.find("orders.v1.Orders/Create")
        if i < 0 or "/v1/orders" not in text:
            continue
        m = re.search(r"rate\s*=\s*\{([^}]*)\}", text)
        if not m:
            return None
        body = m.group(1)
        lim = re.search(r"limit\s*=\s*(\d+)", body)
        per = re.search(r"period\s*=\s*([\d.]+)", body)
        key = re.search(r'key\s*=\s*"([^"]+)"', body)
        return (int(lim.group(1)) if lim else None, float(per.group(1)) if per else 1.0,
                key.group(1) if key else None)
    return None


class Demo:
    """The demo daemon from conf/portico.conf, ports rewritten; run from the
    source root so that the conf's relative paths (conf/..., plugins/.libs)
    hold."""

    def __init__(self, work, crm_port, workers=None, access_log=False):
        self.work = work
        self.port, self.admin = free_port(), free_port()
        with open(os.path.join(CONF, "portico.conf")) as f:
            text = f.read()
        self.secret = re.search(r'jwt\s*=\s*\{[^}]*secret\s*=\s*"([^"]+)"', text, re.S).group(1)
        iss = re.search(r'jwt\s*=\s*\{[^}]*iss\s*=\s*"([^"]+)"', text, re.S)
        self.iss = iss.group(1) if iss else None
        text = sub_once(r'listen\s*\{\s*address\s*=\s*"127\.0\.0\.1",\s*port\s*=\s*8080\s*\}',
                        f'listen {{ address = "127.0.0.1", port = {self.port} }}', text,
                        "listen on 8080")
        text = text.replace("127.0.0.1:8080", f"127.0.0.1:{self.port}")   # upstream "orders"
        text = sub_once(r"127\.0\.0\.1:9004", f"127.0.0.1:{crm_port}", text, "crm on 9004")
        text = sub_once(r'plugins_dir\s*=\s*"[^"]*"', f'plugins_dir = "{PLUGINS}"', text,
                        "plugins_dir")
        text = sub_once(r'pid_file\s*=\s*"[^"]*"', f'pid_file = "{work}/portico.pid"', text,
                        "pid_file")
        text = sub_once(r'var_dir\s*=\s*"[^"]*"', f'var_dir = "{work}/var"', text, "var_dir")
        text = sub_once(r"\nlog\s*=\s*\{[^}\n]*\}",
                        f'\nlog = {{ level = "warn", file = "{work}/portico.log" }}', text, "log")
        alog = (f'access_log = {{ file = "{work}/access.log", format = "text" }}' if access_log
                else "access_log = { enabled = false }")
        text = sub_once(r"\naccess_log\s*=\s*\{[^}\n]*\}", "\n" + alog, text, "access_log")
        if workers:
            text = sub_once(r"\nworkers\s*=\s*\d+", f"\nworkers = {workers}", text, "workers")
        text += (f'\n-- sandwich_bench.py: /metrics for the per-hop split\n'
                 f'admin {{ listen = {{ address = "127.0.0.1", port = {self.admin} }} }}\n')
        self.conf = os.path.join(work, "portico.conf")
        with open(self.conf, "w") as f:
            f.write(text)
        self.proc = None

    def start(self, wrap=(), wait=15):
        shutil.rmtree(os.path.join(self.work, "var"), ignore_errors=True)
        self.proc = subprocess.Popen(["taskset", "-c", DAEMON_CPU] + list(wrap) +
                                     [PORTICO, "-c", self.conf], cwd=ROOT,
                                     stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(self.work, "stderr.log"), "ab"))
        try:
            wait_port(self.port, wait)
            wait_port(self.admin, wait)
        except RuntimeError:
            self.stop()
            with open(os.path.join(self.work, "portico.log"), errors="replace") as f:
                log = f.read()[-2000:]
            sys.exit(f"sandwich_bench: the demo daemon did not start:\n{log}")

    def pids(self):
        """The daemon's processes: the main one and its workers."""
        out = [self.proc.pid]
        for stat in glob.glob("/proc/[0-9]*/stat"):
            try:
                with open(stat) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.proc.pid:
                out.append(int(stat.split("/")[2]))
        return out

    def metrics(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.admin}/metrics", timeout=5) as r:
            return r.read().decode()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def cpu_us(pids):
    """utime+stime of each process (every thread it ever ran), in us."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total * 1e6 / TICK


METRIC = re.compile(r'^(\w+)\{([^}]*)\} ([0-9.eE+-]+|NaN)$')


def hop_sums(text):
    """{(family, label): value} of the _sum/_count series the split needs."""
    out = {}
    for line in text.splitlines():
        m = METRIC.match(line)
        if not m:
            continue
        name, labels, val = m.groups()
        lab = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        for fam, key in (("portico_upstream_duration_seconds", "upstream"),
                         ("portico_http_request_duration_seconds", "route"),
                         ("portico_request_phase_seconds", "phase")):
            for suf in ("_sum", "_count"):
                if name == fam + suf and key in lab:
                    k = (fam + suf, lab[key])
                    out[k] = out.get(k, 0.0) + float(val)
    return out


def hop_means(before, after):
    """Mean ms per call of each upstream, route and phase between two scrapes."""
    means = {}
    for (fam, lab), s in after.items():
        if not fam.endswith("_sum"):
            continue
        base = fam[:-4]
        n = after.get((base + "_count", lab), 0) - before.get((base + "_count", lab), 0)
        if n > 0:
            short = {"portico_upstream_duration_seconds": "upstream",
                     "portico_http_request_duration_seconds": "route",
                     "portico_request_phase_seconds": "phase"}[base]
            means[f"{short} {lab}"] = (1000 * (s - before.get((fam, lab), 0.0)) / n, n)
    return means


def run_load(load, port, tokens, rate, seconds, subs, on_start=None, drain=5, slow=False):
    argv = ["taskset", "-c", LOAD_CPU, load, "--port", str(port), "--tokens", tokens,
            "--rate", str(rate), "--seconds", str(seconds), "--subs", str(subs),
            "--drain", str(drain), "--conns", "4" if slow else "16", "--conns-max", "512",
            "--open-timeout", "120" if slow else "10"]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    limit = time.monotonic() + seconds + drain + (240 if slow else 60)
    result = None
    try:
        for line in p.stdout:
            if line.startswith("# start") and on_start:
                on_start()
            elif line.startswith("result "):
                result = line
            if time.monotonic() > limit:
                break
        p.wait(max(1, limit - time.monotonic()))
    except subprocess.TimeoutExpired:
        pass
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    err = p.stderr.read()
    if err and result:
        sys.stderr.write(err)   # e.g. the first non-2xx answers: why
    if not result:
        sys.exit(f"sandwich_bench: the load generator failed (exit {p.returncode}):\n{err}")
    m = {}
    for kv in result.split()[1:]:
        k, v = kv.split("=", 1)
        m[k] = float(v)
    return m


def one_run(demo, crm, load, tokens, rate, seconds, subs, warmup):
    demo.start()
    try:
        # warm-up: the Lua states, the upstream pools, the gRPC connection
        run_load(load, demo.port, tokens, min(rate, 200), warmup, 1, drain=3)
        marks = {}

        def start():
            marks["cpu"] = cpu_us(demo.pids())
            marks["crm"] = cpu_us([crm.pid])
            marks["metrics"] = hop_sums(demo.metrics())
            marks["t"] = time.monotonic()
        m = run_load(load, demo.port, tokens, rate, seconds, subs, start)
        m["daemon_us"] = (cpu_us(demo.pids()) - marks["cpu"]) / max(m["sent"], 1)
        m["crm_us"] = (cpu_us([crm.pid]) - marks["crm"]) / max(m["sent"], 1)
        m["daemon_pct"] = ((cpu_us(demo.pids()) - marks["cpu"]) / 1e4 /
                           (time.monotonic() - marks["t"]))
        m["hops"] = hop_means(marks["metrics"], hop_sums(demo.metrics()))
        return m
    finally:
        demo.stop()


def profile(demo, crm, load, tokens, rate, seconds, out):
    data = out + ".data"
    demo.start()
    try:
        run_load(load, demo.port, tokens, min(rate, 200), 1, 1, drain=3)
        perf = {}
        pids = ",".join(str(p) for p in demo.pids())   # the main process and its workers

        def start_all():
            perf["p"] = subprocess.Popen(["perf", "record", "-q", "-g", "-o", data, "-p", pids,
                                          "--", "sleep", str(seconds)],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        run_load(load, demo.port, tokens, rate, seconds, 1, start_all)
        perf["p"].wait(seconds + 30)
    finally:
        demo.stop()
    rep = subprocess.run(["perf", "report", "-i", data, "--no-children", "--stdio",
                          "--sort", "dso,symbol", "-g", "none", "--percent-limit", "0.7"],
                         capture_output=True, text=True, timeout=300).stdout
    dso = subprocess.run(["perf", "report", "-i", data, "--no-children", "--stdio",
                          "--sort", "dso", "-g", "none", "--percent-limit", "0.5"],
                         capture_output=True, text=True, timeout=300).stdout
    with open(out, "w") as f:
        f.write(f"# perf record -g of the demo daemon, {rate} orders/s, 1 subscriber, "
                f"{seconds} s\n")
        for rep_ in (dso, rep):
            f.write("\n".join(line for line in rep_.splitlines()
                              if line.strip() and not line.startswith("#")) + "\n\n")
    if not os.environ.get("KEEP_PERF_DATA"):
        os.unlink(data)
    print(f"profile: {out}")


CG_LINE = re.compile(r"^\s*([\d,]+)\s+\([^)]*\)\s+(\S.*?)(?:\s+\[([^\]]+)\])?\s*$")


def cg_report(dump, m, rate, out, subs=1):
    rep = subprocess.run(["callgrind_annotate", "--inclusive=no", "--tree=none", "--auto=no",
                          "--threshold=100", dump],
                         capture_output=True, text=True, timeout=300).stdout
    orders = max(m["sent"], 1)
    total = int(re.search(r"([\d,]+) \(100.0%\)\s+PROGRAM TOTALS", rep).group(1).replace(",", ""))
    by_obj, by_fn, shown = {}, [], 0
    for line in rep.splitlines():
        g = CG_LINE.match(line)
        if not g or "PROGRAM TOTALS" in line or g.group(2).startswith(("=>", "<")):
            continue
        n = int(g.group(1).replace(",", ""))
        fn, obj = g.group(2), os.path.basename(g.group(3) or "?")
        if n > 0.3 * total:     # the threads' outer frames (clone, the loop), counted whole
            continue
        by_obj[obj] = by_obj.get(obj, 0) + n
        by_fn.append((n, fn, obj))
        shown += n
    with open(out, "w") as f:
        f.write(f"# callgrind: the demo daemon, {orders:.0f} orders at {rate:g}/s, {subs} "
                f"subscriber(s) ({m['s2xx']:.0f} answered 2xx): {total / orders:,.0f} "
                f"instructions per order "
                f"(user space, every thread; the kernel is not in them)\n\n"
                f"# by object, per order ({100 * shown / total:.0f} % of the total attributed)\n")
        for obj, n in sorted(by_obj.items(), key=lambda x: -x[1]):
            if n / total >= 0.005:
                f.write(f"{n / orders:>10,.0f} {100 * n / total:5.1f}%  {obj}\n")
        f.write("\n# top functions (self), per order\n")
        for n, fn, obj in sorted(by_fn, reverse=True)[:40]:
            f.write(f"{n / orders:>10,.0f} {100 * n / total:5.1f}%  {fn[-90:]}  [{obj}]\n")
    return total / orders


def callgrind(demo, load, tokens, rate, seconds, out, subs=1):
    """Instructions per order, by object and by function: the daemon under
    valgrind --tool=callgrind (every worker thread), the counters zeroed
    after a warm-up, dumped after RATE x SECONDS orders. Instructions do
    not move with the machine's load as times do; the kernel is not in
    them (see the perf profile for its share)."""
    cg = os.path.join(demo.work, "callgrind.out")
    demo.start(["valgrind", "--tool=callgrind", "--dump-instr=no",
                f"--callgrind-out-file={cg}"], wait=180)
    try:
        run_load(load, demo.port, tokens, rate, 2, 1, drain=20, slow=True)
        subprocess.run(["callgrind_control", "-z", str(demo.proc.pid)], check=True,
                       stdout=subprocess.DEVNULL, timeout=60)
        m = run_load(load, demo.port, tokens, rate, seconds, subs, drain=20, slow=True)
        subprocess.run(["callgrind_control", "-d", str(demo.proc.pid)], check=True,
                       stdout=subprocess.DEVNULL, timeout=60)
    finally:
        demo.stop()
    dumps = sorted(glob.glob(cg + ".*"), key=os.path.getmtime)
    if not dumps:
        sys.exit("sandwich_bench: callgrind wrote no dump")
    per = cg_report(dumps[0], m, rate, out, subs)
    if os.environ.get("KEEP_CALLGRIND"):
        shutil.copy(dumps[0], out + ".callgrind")
    print(f"callgrind: {per:,.0f} instructions per order: {out}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="one short round (a smoke run)")
    ap.add_argument("--rates", default="200,1000,3000", help="orders per second")
    ap.add_argument("--subs", default="1,100", help="WebSocket subscribers")
    ap.add_argument("--duration", type=float, default=10, help="seconds per run")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--warmup", type=float, default=1, help="seconds at <= 200/s per daemon")
    ap.add_argument("--workers", type=int, help="override the conf's workers")
    ap.add_argument("--access-log", action="store_true", help="keep the access log (to a file)")
    ap.add_argument("--consumers", type=int, default=0,
                    help="distinct JWT subjects (default: enough for the route's rate limit)")
    ap.add_argument("--crm", choices=("demo", "stub"), default="demo",
                    help="demo: scripts/demo-crm (Python, as the demo runs it); stub: a C "
                         "stand-in answering the same envelopes (the CRM out of the way)")
    ap.add_argument("--keep", action="store_true", help="keep the work dir (conf, logs)")
    ap.add_argument("--profile", metavar="FILE")
    ap.add_argument("--profile-rate", type=float, default=1000)
    ap.add_argument("--callgrind", metavar="FILE",
                    help="instructions per order by object and function (valgrind), to FILE")
    ap.add_argument("--callgrind-orders", type=int, default=300)
    ap.add_argument("--callgrind-subs", type=int, default=1)
    a = ap.parse_args()
    if a.quick:
        a.rates, a.subs, a.duration, a.rounds, a.warmup = "200", "1", 2, 1, 0.5
    why = shop_missing()
    if why:
        print(f"sandwich_bench: skipped: {why}")
        sys.exit(SKIP)
    for tool in (("cc", "taskset") + (("perf",) if a.profile else ()) +
                 (("valgrind", "callgrind_control", "callgrind_annotate") if a.callgrind else ())):
        if not shutil.which(tool):
            sys.exit(f"sandwich_bench: {tool} is not installed")
    if not os.path.exists(PORTICO):
        sys.exit(f"sandwich_bench: {PORTICO} is not built (make)")
    try:
        rates = [float(x) for x in a.rates.split(",")]
        subs = [int(x) for x in a.subs.split(",")]
    except ValueError as e:
        sys.exit(f"sandwich_bench: --rates and --subs are comma-separated numbers: {e}")
    if not all(0 < r <= 100000 for r in rates) or not all(0 <= s <= 10000 for s in subs):
        sys.exit("sandwich_bench: rates from 1 to 100000 orders/s, 0 to 10000 subscribers")
    if not 0.5 <= a.duration <= 600 or not 0 <= a.rounds <= 20 or not 0 < a.warmup <= 60:
        sys.exit("sandwich_bench: --duration 0.5-600 s, --rounds 0-20, --warmup up to 60 s")
    if a.rates and max(rates) * a.duration > 5e6:
        sys.exit("sandwich_bench: rate x duration past 5,000,000 orders")

    work = tempfile.mkdtemp(prefix="portico-sandwich-")
    crm = demo = None
    try:
        load = os.path.join(work, "sandwich_load")
        subprocess.run(["cc", "-O2", "-Wall", "-o", load, os.path.join(HERE, "sandwich_load.c")],
                       check=True, timeout=120)
        crm_port = free_port()
        if a.crm == "demo":
            crm = subprocess.Popen(["taskset", "-c", LOAD_CPU, "/usr/bin/python3", CRM,
                                    "--port", str(crm_port)], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        else:   # the C stand-in: leaves when its stdin closes
            crm = subprocess.Popen(["taskset", "-c", LOAD_CPU, load, "crm", "--port",
                                    str(crm_port), "--seconds", "7200"], stdin=subprocess.PIPE,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(crm_port, 10)
        demo = Demo(work, crm_port, a.workers, a.access_log)

        # enough JWT subjects that no one of them passes the route's rate limit
        consumers = a.consumers
        rl = rate_limit()
        if not consumers:
            consumers = 1
            if rl and rl[0] and rl[2] != "ip":
                limit, period, _ = rl
                consumers = max(1, math.ceil(max(rates) * period / (0.8 * limit)))
        tokens = os.path.join(work, "tokens")
        with open(tokens, "w") as f:
            for i in range(consumers):
                f.write(jwt(demo.secret, demo.iss, f"bench-{i}") + "\n")

        res = {}
        t_start = time.monotonic()
        for r in range(a.rounds):
            for s in subs:
                for rate in rates:
                    m = one_run(demo, crm, load, tokens, rate, a.duration, s, a.warmup)
                    res.setdefault((rate, s), []).append(m)
                    print(f"# round {r + 1}: {rate:.0f}/s x {s} subs: ws p50 {m['ws_p50']:.2f} "
                          f"p99 {m['ws_p99']:.2f} ms, rest p50 {m['rest_p50']:.2f} ms, "
                          f"{m['daemon_us']:.0f} us/order, 2xx {m['s2xx']:.0f}/{m['sent']:.0f}, "
                          f"missing {m['missing']:.0f}", flush=True)

        print(f"\nprotocol sandwich: POST /v1/orders -> SOAP GetCustomer -> gRPC Create -> hub "
              f"-> WebSocket; CRM: {CRM_NAME[a.crm]}; {a.duration:g} s per run, medians of "
              f"{a.rounds}; "
              f"{consumers} JWT subject(s)"
              + (f" (route limit {rl[0]}/{rl[1]:g} s per {rl[2] or 'consumer'})" if rl else ""))
        print(f"{'rate/s':>7} {'subs':>5} {'sent/s':>7} {'ws p50':>7} {'p99':>7} {'p99.9':>7} "
              f"{'last p99':>8} {'rest p50':>8} {'p99':>7} {'lead':>6} {'us/order':>8} "
              f"{'cpu0 %':>6} {'gen %':>5} {'lag p99':>7} {'crm us':>6} {'non2xx':>6} "
              f"{'missing':>7}")
        summary = []
        for (rate, s), rs in res.items():
            med = {k: statistics.median(x[k] for x in rs) for k in rs[0] if k != "hops"}
            non2xx = med["s429"] + med["s4xx"] + med["s5xx"] + med["sother"] + med["conn_errors"]
            sat = med["rate"] < 0.98 * rate or med["ws_p50"] > 100 or med["unanswered"] > 0
            print(f"{rate:>7.0f} {s:>5} {med['rate']:>7.0f} {med['ws_p50']:>7.2f} "
                  f"{med['ws_p99']:>7.2f} {med['ws_p999']:>7.2f} {med['wslast_p99']:>8.2f} "
                  f"{med['rest_p50']:>8.2f} {med['rest_p99']:>7.2f} {med['lead_p50']:>6.3f} "
                  f"{med['daemon_us']:>8.0f} {med['daemon_pct']:>6.0f} {med['gen_cpu_pct']:>5.0f} "
                  f"{med['lag_p99']:>7.2f} {med['crm_us']:>6.0f} {non2xx:>6.0f} "
                  f"{med['missing']:>7.0f}"
                  + ("  saturated" if sat else ""))
            summary.append({"rate": rate, "subs": s, **med})
        print("latencies in ms from the order's due time; ws: every delivery; last: the last "
              "subscriber; lead: how long before the 201 the first push came (p50); us/order: "
              "the daemon's CPU; gen %: the generator's share of CPU 1; lag p99: how late the "
              "generator itself sent (a stall of CPU 1, in every latency); crm us: the CRM's CPU "
              "per order (CPU 1); saturated: under 98 % of the rate sent, a p50 past 100 ms or "
              "orders unanswered")

        print("\nper-hop means (ms per call, from /metrics, median over rounds):")
        for (rate, s), rs in res.items():
            keys = sorted(set().union(*(x["hops"].keys() for x in rs)))
            parts = []
            for k in keys:
                vals = [x["hops"][k][0] for x in rs if k in x["hops"]]
                n = statistics.median(x["hops"][k][1] for x in rs if k in x["hops"])
                if n >= 0.5 * rate * a.duration or k.startswith("upstream"):
                    parts.append(f"{k} {statistics.median(vals):.3f}")
            print(f"  {rate:.0f}/s x {s}: " + "; ".join(parts))
        print(json.dumps(summary))
        print(f"# {time.monotonic() - t_start:.0f} s")

        if a.callgrind:
            callgrind(demo, load, tokens, 20, a.callgrind_orders / 20, a.callgrind,
                      a.callgrind_subs)
        if a.profile:
            profile(demo, crm, load, tokens, a.profile_rate, min(a.duration, 10), a.profile)
    finally:
        if demo:
            demo.stop()
        if crm and crm.poll() is None:
            if crm.stdin:
                crm.stdin.close()
            crm.send_signal(signal.SIGTERM)
            try:
                crm.wait(10)
            except subprocess.TimeoutExpired:
                crm.kill()
        if a.keep:
            print(f"kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
