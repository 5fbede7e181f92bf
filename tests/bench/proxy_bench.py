#!/usr/bin/python3
"""One proxy hop: Portico proxy() against nginx proxy_pass with upstream
keepalive, to the same upstream (an nginx answering a fixed 13-byte body),
one worker each, wrk -t1 -c50 on HTTP/1.1. The proxy under test is pinned
to CPU 0; wrk and the upstream share CPU 1. Same method as http_bench.py.

    tests/bench/proxy_bench.py [--duration 5] [--rounds 3] [--conns 50]
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from http_bench import PORTICO, Server, compare_wrk, free_port, wait_port  # noqa: E402


def upstream(work):
    port = free_port()
    conf = f"{work}/up.conf"
    with open(conf, "w") as f:
        f.write(f"""daemon off; master_process off; worker_processes 1;
error_log {work}/up-error.log warn; pid {work}/up.pid;
events {{ worker_connections 4096; }}
http {{ access_log off; keepalive_requests 1000000; client_body_temp_path {work};
  proxy_temp_path {work}; fastcgi_temp_path {work}; uwsgi_temp_path {work}; scgi_temp_path {work};
  server {{ listen 127.0.0.1:{port}; location / {{ return 200 "Hello, World!"; }} }} }}
""")
    p = subprocess.Popen(["taskset", "-c", "1", "nginx", "-p", work, "-c", conf],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    return p, port


def portico(work, up):
    port = free_port()
    os.makedirs(f"{work}/routes", exist_ok=True)
    with open(f"{work}/routes/p.lua", "w") as f:
        f.write('route.any("/*rest", proxy(upstream "up"))\n')
    with open(f"{work}/portico.conf", "w") as f:
        f.write(f'workers = 1\nplugins_dir = "{work}"\nlog = {{ level = "warn" }}\n'
                f'listen {{ address = "127.0.0.1", port = {port} }}\n'
                f'upstream "up" {{ servers = {{ "127.0.0.1:{up}" }} }}\nroutes "{work}/routes"\n')
    return Server("portico", [PORTICO, "-c", f"{work}/portico.conf"], port, port)


def nginx(work, up):
    port = free_port()
    with open(f"{work}/px.conf", "w") as f:
        f.write(f"""daemon off; master_process off; worker_processes 1;
error_log {work}/px-error.log warn; pid {work}/px.pid;
events {{ worker_connections 4096; }}
http {{ access_log off; keepalive_requests 1000000; client_body_temp_path {work};
  proxy_temp_path {work}; fastcgi_temp_path {work}; uwsgi_temp_path {work}; scgi_temp_path {work};
  upstream up {{ server 127.0.0.1:{up}; keepalive 128; }}
  server {{ listen 127.0.0.1:{port};
    location / {{ proxy_pass http://up; proxy_http_version 1.1;
                 proxy_set_header Connection ""; }} }} }}
""")
    return Server("nginx", ["nginx", "-p", work, "-c", f"{work}/px.conf"], port, port)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--conns", type=int, default=50)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="portico-proxybench-")
    up, up_port = upstream(work)
    servers = [portico(work, up_port), nginx(work, up_port)]
    try:
        compare_wrk(servers, a.rounds, a.conns, a.duration, "/hello", side_pids=[up.pid])
        print("side us/req: the upstream's CPU per request; cpu0/cpu1 %: how busy the proxy's\n"
              "CPU and the load side's CPU (wrk + upstream) were. With cpu1 near 100% the\n"
              "load side caps req/s for any proxy; cpu us/req then tells the proxies apart.")
    finally:
        for s in servers:
            s.stop()
        up.terminate()
        up.wait(10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
