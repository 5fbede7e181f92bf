#!/usr/bin/python3
"""Webhooks: verified, durably stored events per second against a plain route.

One Portico daemon (one worker), one build, two routes:

- /plain:      a Lua route that answers 200 {"ok":true} (reads nothing);
- /hooks/std:  webhook.source "std" (Standard Webhooks scheme): the signature
               checked, the event committed to the SQLite store before the
               200, then handled from the queue by a Lua function that counts.

wrk sends the same requests to both: every one a fresh Standard Webhooks
event (unique id, current timestamp, 1 KB JSON body) signed by
tests/bench/webhook_sign.lua (HMAC through libcrypto by LuaJIT FFI). The
daemon is pinned to CPU 0 and wrk to CPU 1; the two routes run alternately,
ROUNDS rounds, medians reported with the daemon's CPU time per request
(utime+stime of all its threads, the store's writer included). After each
webhook round the bench waits for the queue to drain and reports how long
that took (the handler keeping up: lag bounded).

    tests/bench/webhook_bench.py [--duration 5] [--rounds 3] [--conns 64]
        [--durability full|normal] [--webhook-so PATH]

Goal (issue 14): the webhook route at >= 0.5x the plain route's req/s with
durability at its default ("full": an fsync per group commit).

Needs: wrk (Debian's, LuaJIT with FFI), libcrypto, a built core/portico and
plugins/.libs/webhook.so. Traffic goes to 127.0.0.1 only; every run is
bounded in time.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from http_bench import PORTICO, ROOT, Server, free_port, measure, run_wrk, wait_port  # noqa: E402

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SIGN = os.path.join(HERE, "webhook_sign.lua")

ROUTES = """
route.post("/plain", function(req) return { ok = true } end)
local handled = 0
webhook.source("std", { path = "/hooks/std", scheme = "standard",
                        secrets = { "%s" } }, function(event)
  handled = handled + 1
end)
""" % SECRET


class Daemon(Server):
    def __init__(self, work, durability, webhook_so=None):
        port = free_port()
        self.admin = free_port()
        self.work = work
        plugins = os.path.join(work, "plugins")
        os.makedirs(plugins, exist_ok=True)
        for name in ("webhook.so",):
            dst = os.path.join(plugins, name)
            if not os.path.exists(dst):
                os.symlink(webhook_so or os.path.join(ROOT, "plugins", ".libs", name), dst)
        os.makedirs(os.path.join(work, "routes"), exist_ok=True)
        with open(os.path.join(work, "routes", "bench.lua"), "w") as f:
            f.write(ROUTES)
        self.conf = os.path.join(work, "portico.conf")
        with open(self.conf, "w") as f:
            f.write(f'workers = 1\nplugins_dir = "{plugins}"\nvar_dir = "{work}/var"\n'
                    f'log = {{ level = "warn", file = "{work}/portico.log" }}\n'
                    f'listen {{ address = "127.0.0.1", port = {port} }}\n'
                    f'admin {{ listen = {{ address = "127.0.0.1", port = {self.admin} }} }}\n'
                    f'plugin "webhook" {{ durability = "{durability}" }}\n'
                    f'routes "{work}/routes"\n')
        super().__init__("portico", [PORTICO, "-c", self.conf], port, port)

    def start(self):
        # the admin listener (metrics) may come up after the main one
        super().start()
        wait_port(self.admin)
        return self

    def metric(self, name, source="std"):
        """Sum of NAME{source="std"} on /metrics, or None."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.admin}/metrics", timeout=5) as r:
            text = r.read().decode()
        for line in text.splitlines():
            if line.startswith(name + "{") and f'source="{source}"' in line:
                return float(line.rsplit(" ", 1)[1])
        return None

    def drain_seconds(self, received, limit=120):
        """Seconds until processed reaches RECEIVED (the queue drained)."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < limit:
            done = self.metric("portico_webhook_processed_total") or 0
            if done >= received:
                return time.monotonic() - t0
            time.sleep(0.05)
        return float("inf")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--conns", type=int, default=64)
    ap.add_argument("--durability", default="full")
    ap.add_argument("--webhook-so", help="another build's plugin (e.g. the one before a "
                    "change) against this tree's daemon")
    a = ap.parse_args()
    env = dict(os.environ, WH_SECRET=SECRET)
    os.environ.update(env)
    res = {"plain": [], "webhook": []}
    drains = []
    with tempfile.TemporaryDirectory(prefix="whbench-") as work:
        d = Daemon(work, a.durability, a.webhook_so and os.path.abspath(a.webhook_so))
        for _ in range(a.rounds):
            for name, path in (("plain", "/plain"), ("webhook", "/hooks/std")):
                d.start()
                try:
                    before = d.metric("portico_webhook_received_total") or 0
                    processed0 = d.metric("portico_webhook_processed_total") or 0
                    m = measure(d, lambda: run_wrk(d.port, a.conns, a.duration, path,
                                                   script=SIGN))
                    if name == "webhook":
                        got = (d.metric("portico_webhook_received_total") or 0) - before
                        m["stored"] = got
                        drains.append(d.drain_seconds(processed0 + got))
                    res[name].append(m)
                finally:
                    d.stop()
    print(f"durability = {a.durability}, {a.conns} connections, {a.duration} s x "
          f"{a.rounds} rounds, medians")
    print(f"{'route':<8} {'req/s':>10} {'p99 ms':>8} {'cpu us/req':>10} {'non-2xx':>8}")
    med = {}
    for name in res:
        med[name] = {k: statistics.median(r[k] for r in res[name]) for k in res[name][0]}
        m = med[name]
        print(f"{name:<8} {m['rps']:>10.0f} {m['p99']:>8.2f} {m['us_req']:>10.2f} "
              f"{m['errors']:>8.0f}")
    p, w = med["plain"], med["webhook"]
    print(f"ratio webhook/plain: req/s {w['rps'] / p['rps']:.2f} (goal >= 0.5), p99 "
          f"{w['p99'] / p['p99']:.2f}, cpu/req {w['us_req'] / p['us_req']:.2f}")
    print(f"queue drained after each webhook round in: "
          + ", ".join(f"{s:.2f} s" for s in drains))
    print(json.dumps({"plain": p, "webhook": w, "drain_s": drains}))


if __name__ == "__main__":
    main()
