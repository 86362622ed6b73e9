"""Fault injection shared by the Inter-Hub simulator (interhub_sim.py) and
the OpenBao proxy (fault_proxy.py): one set of faults, one way to apply them.

A fault: {"method", "path" (a prefix), "count", "after" (applied after the
request was executed: the change is made, the answer lost), and what it does:
"status" (+ "retry_after", + "body": a JSON body), "delay_ms", "reset" (an RST,
no answer), "malformed" (a body that is not JSON), "oversized" (2 MiB),
"hold" (the request waits until released; with "drop" it is then reset,
never executed)}.

Each request a fault was applied to is recorded ([method, path], in order)
until the faults are cleared, so a test can tell that the faulted request
was made at all ("fired" in the simulator's and the proxy's state).
"""
import json
import socket
import struct
import threading
import time


def acts(f):
    """Whether a fault answers in place of the route (a hold or a delay alone does not)."""
    return bool(f.get("status") or f.get("reset") or f.get("malformed") or f.get("oversized")) or "body" in f


class Faults:
    def __init__(self):
        self.lock = threading.Lock()
        self.items = []
        self.held = 0
        self.gate = threading.Event()
        # [method, path] of each request a fault was taken for, since clear().
        self.fired = []

    def add(self, f):
        f.setdefault("method", "*")
        f.setdefault("count", 1)
        with self.lock:
            self.items.append(f)
            return list(self.items)

    def clear(self):
        with self.lock:
            self.items.clear()
            self.fired.clear()

    def fired_requests(self):
        """[method, path] of each request a fault was applied to since clear()."""
        with self.lock:
            return [list(r) for r in self.fired]

    def take(self, method, path):
        """The first fault for this request, its count spent (None if none)."""
        with self.lock:
            for f in self.items:
                if f["count"] > 0 and f["method"] in (method, "*") and path.startswith(f["path"]):
                    f["count"] -= 1
                    self.fired.append([method, path])
                    return dict(f)
        return None

    def release(self):
        """Every held request goes on."""
        with self.lock:
            self.gate.set()
            self.gate = threading.Event()

    def hold(self, f):
        if not f.get("hold"):
            return
        with self.lock:
            self.held += 1
            gate = self.gate
        gate.wait(timeout=120)
        with self.lock:
            self.held -= 1


class FaultingHandler:
    """A mixin for a BaseHTTPRequestHandler whose server has `faults`.
    `error_body` and `oversized_field` shape the injected answers like the
    real service's."""

    error_body = {"error": "fault injected"}
    oversized_field = "data"

    def send_raw(self, status, data, headers=()):
        """Headers and body in one write (with Nagle off, no delayed-ACK stall)."""
        self.send_response(status)
        for k, v in headers:
            if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(k, str(v))
        self.send_header("Content-Length", str(len(data)))
        self._headers_buffer.append(b"\r\n")
        self._headers_buffer.append(data)
        self.flush_headers()

    def serve_with_faults(self, execute):
        """Answers this request: `execute()` returns (status, bytes, headers)
        unless a fault answers instead, before or after it ran."""
        faults = self.server.faults
        fault = faults.take(self.command, self.path)
        if fault and fault.get("delay_ms"):
            time.sleep(fault["delay_ms"] / 1000)
        if fault and not fault.get("after"):
            faults.hold(fault)
            if fault.get("drop"):
                # The request never reaches the server: the client gave up.
                return self.fault_reply({"reset": True})
            if acts(fault):
                return self.fault_reply(fault)
        status, data, headers = execute()
        if fault and fault.get("after"):
            faults.hold(fault)
            if acts(fault):
                return self.fault_reply(fault)
        self.send_raw(status, data, headers)

    def fault_reply(self, f):
        if f.get("reset"):
            # An RST instead of an answer.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return
        status = f.get("status") or 200
        json_type = [("Content-Type", "application/json")]
        if f.get("malformed"):
            return self.send_raw(status, b"{not json", json_type)
        if f.get("oversized"):
            field = self.oversized_field.encode()
            return self.send_raw(status, b'{"' + field + b'": "' + b"x" * (2 << 20) + b'"}', json_type)
        headers = list(json_type)
        if f.get("retry_after") is not None:
            headers.append(("Retry-After", f["retry_after"]))
        body = f["body"] if "body" in f else self.error_body
        self.send_raw(status, json.dumps(body).encode(), headers)
