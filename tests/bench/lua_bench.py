#!/usr/bin/python3
"""GET /v1/users/:id returning small JSON built in Lua: Portico against
Debian's nginx with libnginx-mod-http-lua (content_by_lua_block), one worker
each, HTTP/1.1 with wrk. Same method as http_bench.py (CPU pinning, three
alternating rounds, medians, server CPU us per request).

    tests/bench/lua_bench.py [--duration 5] [--rounds 3] [--conns 50]

nginx builds the JSON with string concatenation (Debian's nginx Lua module
ships no cjson); Portico returns a Lua table that its json encoder
(jansson) serialises, so Portico does strictly more work per request.
"""
import argparse
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from http_bench import PORTICO, Server, compare_wrk, free_port  # noqa: E402

MODS = "/usr/lib/nginx/modules"


def portico(work):
    port = free_port()
    os.makedirs(f"{work}/routes", exist_ok=True)
    with open(f"{work}/routes/users.lua", "w") as f:
        f.write('route.get("/v1/users/:id", function(req)\n'
                '  return { id = tonumber(req.params.id), name = "ada" }\nend)\n')
    with open(f"{work}/portico.conf", "w") as f:
        f.write(f'workers = 1\nplugins_dir = "{work}"\nlog = {{ level = "warn" }}\n'
                f'listen {{ address = "127.0.0.1", port = {port} }}\nroutes "{work}/routes"\n')
    return Server("portico", [PORTICO, "-c", f"{work}/portico.conf"], port, port)


def nginx(work):
    port = free_port()
    with open(f"{work}/nginx.conf", "w") as f:
        f.write(f"""load_module {MODS}/ndk_http_module.so;
load_module {MODS}/ngx_http_lua_module.so;
daemon off; master_process off; worker_processes 1;
error_log {work}/nginx-error.log warn; pid {work}/nginx.pid;
events {{ worker_connections 4096; }}
http {{
  access_log off; keepalive_requests 1000000;
  client_body_temp_path {work}; proxy_temp_path {work}; fastcgi_temp_path {work};
  uwsgi_temp_path {work}; scgi_temp_path {work};
  server {{
    listen 127.0.0.1:{port};
    location ~ ^/v1/users/(?<uid>[^/]+)$ {{
      content_by_lua_block {{
        local id = tonumber(ngx.var.uid)
        ngx.header["content-type"] = "application/json"
        ngx.print('{{"id":' .. tostring(id) .. ',"name":"ada"}}')
      }}
    }}
  }}
}}
""")
    return Server("nginx+lua", ["nginx", "-p", work, "-c", f"{work}/nginx.conf"], port, port)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--conns", type=int, default=50)
    ap.add_argument("--pipeline", type=int, default=1,
                    help="requests per write (wrk pipelining); 1: none")
    a = ap.parse_args()
    if not os.path.exists(f"{MODS}/ngx_http_lua_module.so"):
        sys.exit("lua_bench: apt-get install libnginx-mod-http-lua")
    work = tempfile.mkdtemp(prefix="portico-luabench-")
    servers = [portico(work), nginx(work)]
    try:
        compare_wrk(servers, a.rounds, a.conns, a.duration, "/v1/users/42", a.pipeline)
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
