#!/usr/bin/python3
"""The REST -> SOAP adapter a team writes without Portico, for soap_bench.py:
Debian's python3-zeep as the SOAP client (the WSDL loaded once, one shared
client, a requests session with a connection pool as large as the bench's
connection count) behind the standard library's ThreadingHTTPServer
(HTTP/1.1 keep-alive, TCP_NODELAY). GET /v1/accounts/:id calls ledger GetAccount and
answers the account as JSON; a fault is a 502 JSON error.

    soap_zeep_peer.py WSDL SOAP_URL PORT [POOL]
"""
import json
import re
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests
import zeep
import zeep.helpers
from zeep.exceptions import Error as ZeepError, Fault

WSDL, ADDRESS, PORT = sys.argv[1], sys.argv[2], int(sys.argv[3])
POOL = int(sys.argv[4]) if len(sys.argv) > 4 else 64

session = requests.Session()
session.mount("http://", requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=POOL))
client = zeep.Client(WSDL, transport=zeep.Transport(session=session))
ledger = client.create_service("{urn:example:ledger}LedgerSoap", ADDRESS)
ACCOUNT = re.compile(r"^/v1/accounts/(\d+)$")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # http.server writes the headers and the body in two send()s: without
    # TCP_NODELAY, Nagle and the client's delayed ACK stall each answer by
    # 40 ms. Set here so that the comparison is with a tuned adapter.
    disable_nagle_algorithm = True

    def answer(self, status, obj):
        body = json.dumps(obj, default=str).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        m = ACCOUNT.match(self.path)
        if not m:
            return self.answer(404, {"error": "not found"})
        try:
            account = ledger.GetAccount(accountId=int(m.group(1)))
        except Fault as f:
            return self.answer(502, {"error": f.message})
        except (ZeepError, requests.RequestException) as e:
            return self.answer(502, {"error": str(e)})
        self.answer(200, zeep.helpers.serialize_object(account, dict))

    def log_message(self, *a):
        pass


if __name__ == "__main__":
    ThreadingHTTPServer.request_queue_size = 1024       # wrk opens its connections at once
    srv = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
    srv.daemon_threads = True
    srv.serve_forever()
