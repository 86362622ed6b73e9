#!/usr/bin/env python3
"""A fault-injecting HTTP proxy in front of OpenBao, for the fault matrix.

Every request is forwarded to the upstream (one connection per request);
a fault (faults.py, shared with the Inter-Hub simulator) can replace the
answer, before or after the upstream executed the request:

  POST   /_proxy/faults  {"method","path","count","after","status","retry_after",
                          "body","delay_ms","reset","malformed","oversized","hold"}
  POST   /_proxy/release releases every held request
  DELETE /_proxy/faults
  GET    /_proxy/state   {"held": N, "requests": [[method, path], ...],
                          "fired": [[method, path], ...]} ("requests": every
                          request forwarded or faulted; "fired": those a fault
                          was applied to since the faults were last cleared)
  DELETE /_proxy/requests forgets "requests"

Run:  fault_proxy.py --upstream http://127.0.0.1:8200 --port-file P
Loopback only.
"""
import argparse
import http.client
import json
import os
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from faults import Faults, FaultingHandler

LOCK = threading.RLock()


class State:
    def __init__(self, upstream):
        self.upstream = urllib.parse.urlsplit(upstream)
        self.requests = []


class Handler(FaultingHandler, BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    error_body = {"errors": ["fault injected by the proxy"]}
    oversized_field = "data"

    def log_message(self, *a):
        pass

    def _handle(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        st = self.server.state
        if self.path.startswith("/_proxy/"):
            return self._control(st, raw)
        with LOCK:
            st.requests.append([self.command, self.path])
        self.serve_with_faults(lambda: self._forward(st, raw))

    def _forward(self, st, raw):
        u = st.upstream
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        c.request(self.command, self.path, body=raw or None, headers=headers)
        r = c.getresponse()
        data = r.read()
        out = (r.status, data, r.getheaders())
        c.close()
        return out

    def _control(self, st, raw):
        p, m = self.path, self.command
        with LOCK:
            if p == "/_proxy/faults" and m == "POST":
                out = {"faults": self.server.faults.add(json.loads(raw or b"{}"))}
            elif p == "/_proxy/faults" and m == "DELETE":
                self.server.faults.clear()
                out = {"faults": []}
            elif p == "/_proxy/release" and m == "POST":
                self.server.faults.release()
                out = {"released": True}
            elif p == "/_proxy/state" and m == "GET":
                out = {
                    "held": self.server.faults.held,
                    "requests": st.requests,
                    "fired": self.server.faults.fired_requests(),
                }
            elif p == "/_proxy/requests" and m == "DELETE":
                st.requests.clear()
                out = {"requests": []}
            else:
                return self.send_raw(404, b'{"error": "no such control route"}')
        self.send_raw(200, json.dumps(out).encode(), [("Content-Type", "application/json")])

    do_GET = do_POST = do_PUT = do_DELETE = do_LIST = _handle


class Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog (5) drops the handshakes of a client's
    # concurrent requests beyond 6; a real service's is far larger.
    request_queue_size = 128


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--port-file", required=True)
    a = ap.parse_args()
    if urllib.parse.urlsplit(a.upstream).hostname not in ("127.0.0.1", "localhost"):
        sys.exit("loopback upstreams only")
    srv = Server(("127.0.0.1", 0), Handler)
    srv.state = State(a.upstream)
    srv.faults = Faults()
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.replace(tmp, a.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
