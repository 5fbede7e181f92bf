#!/usr/bin/python3
"""Instructions per request of the webhook route and the plain route.

The same daemon as webhook_bench.py (one worker, /plain and /hooks/std), run
under valgrind's callgrind: what is reported is the daemon's instructions
(every thread: the worker, the store's writer, the rest) per request, which
a machine busy with other work does not change, unlike req/s. (This
machine's VM has no hardware counters for perf stat.) For each route the
counters are zeroed, wrk sends signed requests for DURATION seconds with
CONNS connections, the queue drains (webhook: the handler's runs and their
finishes belong to the event), the counters are dumped. Requests are
counted by wrk (plain) and by the store's received counter (webhook: stored
events only). Under valgrind the daemon runs some 50x slower, so group
commits batch differently than at full speed: compare builds with the same
CONNS.

    tests/bench/webhook_icount.py [--duration 4] [--conns 16]
        [--durability full|normal] [--rounds 1] [--keep DIR] [--only plain|webhook]
        [--webhook-so PATH]

--keep DIR leaves the callgrind files there (callgrind_annotate them; one
file per thread and route: callgrind.out.PID.N-TT).

Needs valgrind, wrk, a built tree. Traffic goes to 127.0.0.1 only; every
run is bounded in time.
"""
import argparse
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from http_bench import run_wrk, wait_port  # noqa: E402
from webhook_bench import SECRET, SIGN, Daemon  # noqa: E402


def totals(files):
    """Instructions per thread file (its "totals:" or "summary:" line)."""
    out = {}
    for f in files:
        with open(f) as fh:
            for line in fh:
                if line.startswith(("totals:", "summary:")):
                    out[f.rsplit("-", 1)[1]] = int(line.split()[1])
                    break
    return out


def control(args, pid):
    subprocess.run(["callgrind_control"] + args + [str(pid)], capture_output=True,
                   timeout=60)


def count(d, work, path, conns, duration, label):
    pid = d.proc.pid
    control(["-z"], pid)
    before = d.metric("portico_webhook_received_total") or 0
    _, _, reqs, errors = run_wrk(d.port, conns, duration, path, script=SIGN)
    if path != "/plain":
        got = (d.metric("portico_webhook_received_total") or 0) - before
        d.drain_seconds(before + got)
        time.sleep(0.5)          # the last finishes' commit
        reqs = got
    control(["-d", label], pid)
    files = [f for f in glob.glob(os.path.join(work, f"callgrind.out.{pid}.*"))
             if not f.endswith(".done")]
    rows = totals(files)
    for f in files:
        os.rename(f, f + ".done")
    return reqs, errors, rows, files


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=4)
    ap.add_argument("--conns", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--durability", default="full")
    ap.add_argument("--only", choices=("plain", "webhook"))
    ap.add_argument("--keep")
    ap.add_argument("--webhook-so", help="another build's plugin against this daemon")
    a = ap.parse_args()
    os.environ["WH_SECRET"] = SECRET
    with tempfile.TemporaryDirectory(prefix="whicount-") as work:
        d = Daemon(work, a.durability, a.webhook_so and os.path.abspath(a.webhook_so))
        d.argv = ["valgrind", "--tool=callgrind", "--separate-threads=yes",
                  f"--callgrind-out-file={work}/callgrind.out.%p"] + d.argv
        d.proc = subprocess.Popen(["taskset", "-c", "0"] + d.argv, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        try:
            wait_port(d.port, 120)
            wait_port(d.admin, 60)
            # warm up: the Lua state, the store's file, OpenSSL's tables
            run_wrk(d.port, 4, 2, "/hooks/std", script=SIGN)
            run_wrk(d.port, 4, 2, "/plain", script=SIGN)
            d.drain_seconds(d.metric("portico_webhook_received_total") or 0)
            for r in range(a.rounds):
                for name, path in (("plain", "/plain"), ("webhook", "/hooks/std")):
                    if a.only and a.only != name:
                        continue
                    reqs, errors, rows, files = count(d, work, path, a.conns, a.duration,
                                                      f"{name}{r}")
                    n = max(reqs, 1)
                    print(f"{name:<8} {reqs:>7.0f} req {errors:>4} non-2xx "
                          f"{sum(rows.values()) / n / 1000:>7.1f}k instr/req   threads: "
                          + ", ".join(f"{k} {v / n / 1000:.1f}k" for k, v in sorted(rows.items())
                                      if v / n >= 50))
                    sys.stdout.flush()
                    if a.keep:
                        os.makedirs(a.keep, exist_ok=True)
                        for f in files:
                            shutil.copy(f + ".done", os.path.join(a.keep, os.path.basename(f)))
        finally:
            d.stop()


if __name__ == "__main__":
    main()
