#!/usr/bin/env python3
"""A fault-injecting HTTP proxy in front of OpenBao, for the fault matrix.

Every request is forwarded to the upstream (one connection per request);
a fault can replace the answer, before or after the upstream executed the
request, exactly as the Inter-Hub simulator's faults do:

  POST   /_proxy/faults  {"method","path","count","after","status","retry_after",
                          "body","delay_ms","reset","malformed","oversized","hold"}
  POST   /_proxy/release releases every held request
  DELETE /_proxy/faults
  GET    /_proxy/state   {"held": N, "requests": [[method, path], ...]}

Run:  fault_proxy.py --upstream http://127.0.0.1:8200 --port-file P
Loopback only.
"""
import argparse
import http.client
import json
import os
import socket
import struct
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.RLock()


class State:
    def __init__(self, upstream):
        self.upstream = urllib.parse.urlsplit(upstream)
        self.faults = []
        self.held = 0
        self.release = threading.Event()
        self.requests = []


def acts(f):
    return bool(f.get("status") or f.get("reset") or f.get("malformed") or f.get("oversized")) or "body" in f


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *a):
        pass

    def _send_raw(self, status, data, headers=()):
        self.send_response(status)
        for k, v in headers:
            if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self._headers_buffer.append(b"\r\n")
        self._headers_buffer.append(data)
        self.flush_headers()

    def _handle(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        st = self.server.state
        if self.path.startswith("/_proxy/"):
            return self._control(st, raw)
        fault = None
        with LOCK:
            st.requests.append([self.command, self.path])
            for f in st.faults:
                if f["count"] > 0 and f["method"] in (self.command, "*") and self.path.startswith(f["path"]):
                    f["count"] -= 1
                    fault = dict(f)
                    break
        if fault and fault.get("delay_ms"):
            time.sleep(fault["delay_ms"] / 1000)
        if fault and not fault.get("after"):
            self._hold(fault)
            if fault.get("drop"):
                # The request never reaches the server: the client gave up.
                return self._fault({"reset": True})
            if acts(fault):
                return self._fault(fault)
        status, data, headers = self._forward(st, raw)
        if fault and fault.get("after"):
            self._hold(fault)
            if acts(fault):
                return self._fault(fault)
        self._send_raw(status, data, headers)

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

    def _hold(self, f):
        if not f.get("hold"):
            return
        st = self.server.state
        with LOCK:
            st.held += 1
            gate = st.release
        gate.wait(timeout=120)
        with LOCK:
            st.held -= 1

    def _fault(self, f):
        if f.get("reset"):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return
        status = f.get("status") or 200
        if f.get("malformed"):
            return self._send_raw(status, b"{not json", [("Content-Type", "application/json")])
        if f.get("oversized"):
            return self._send_raw(status, b'{"data": "' + b"x" * (2 << 20) + b'"}', [("Content-Type", "application/json")])
        headers = [("Content-Type", "application/json")]
        if f.get("retry_after") is not None:
            headers.append(("Retry-After", str(f["retry_after"])))
        body = f["body"] if "body" in f else {"errors": ["fault injected by the proxy"]}
        self._send_raw(status, json.dumps(body).encode(), headers)

    def _control(self, st, raw):
        p, m = self.path, self.command
        with LOCK:
            if p == "/_proxy/faults" and m == "POST":
                f = json.loads(raw or b"{}")
                f.setdefault("method", "*")
                f.setdefault("count", 1)
                st.faults.append(f)
                out = {"faults": st.faults}
            elif p == "/_proxy/faults" and m == "DELETE":
                st.faults.clear()
                out = {"faults": []}
            elif p == "/_proxy/release" and m == "POST":
                st.release.set()
                st.release = threading.Event()
                out = {"released": True}
            elif p == "/_proxy/state" and m == "GET":
                out = {"held": st.held, "requests": st.requests}
            elif p == "/_proxy/requests" and m == "DELETE":
                st.requests.clear()
                out = {"requests": []}
            else:
                return self._send_raw(404, b'{"error": "no such control route"}')
        self._send_raw(200, json.dumps(out).encode(), [("Content-Type", "application/json")])

    do_GET = do_POST = do_PUT = do_DELETE = do_LIST = _handle


class Server(ThreadingHTTPServer):
    daemon_threads = True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--port-file", required=True)
    a = ap.parse_args()
    if urllib.parse.urlsplit(a.upstream).hostname not in ("127.0.0.1", "localhost"):
        sys.exit("loopback upstreams only")
    srv = Server(("127.0.0.1", 0), Handler)
    srv.state = State(a.upstream)
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.replace(tmp, a.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
