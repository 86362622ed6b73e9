#!/usr/bin/env python3
"""Inter-Hub API v2 simulator (the contract in ../shared/interhub-api-v2.md).

Inter-Hub is not public, so ops-warden keeps this simulator of the subset it
uses. It is strict where the real service would be: which credential goes to
which route, content types, scopes, Idempotency-Key, display-once keys. It
holds state across requests and can inject faults on a chosen route.

Run:  interhub_sim.py --operator-key-file F --port-file P [--port 0] [--request-log L]
        [--latency-ms N] [--tls-host ADDR --tls-cert PEM --tls-key PEM --tls-port-file P]
Listens on loopback (plain HTTP: the API and the control routes); with
--tls-host also over TLS on the fleet test's bridge (10.77.0.0/16), where
hosts in network namespaces reach it. Both listeners serve one state.

Control routes (tests only; ops-warden never calls them):
  POST   /_sim/faults  a fault on a route (faults.py says what one can do;
                       the OpenBao proxy takes the same)
  POST   /_sim/reset   forgets everything (hubs, keys, tokens, faults) except the
                       record of issued secrets below
  POST   /_sim/release releases every held request (GET /_sim/state "held"
                       counts the requests waiting now)
  DELETE /_sim/faults
  POST   /_sim/latency {"ms": N}: every answer N ms away (a distant Inter-Hub)
  DELETE /_sim/counters restarts "in_flight_max" and "write_requests"
  GET    /_sim/secrets {"keys": [...], "tokens": [...]}: every runtime key
                       (revoked ones too) and access token this process ever
                       issued, resets included (an append-only record, for the
                       tests' output scans: a secret of an earlier cell is
                       still looked for)
  GET    /_sim/state   hubs, manifests, consumers, keys (never secrets), widgets,
                       events, "writes" (state-changing operations so far),
                       "write_requests" (every non-GET request received,
                       token minting aside), "in_flight_max" (most requests
                       in flight at once), "held" (requests a hold keeps now),
                       "fired" ([method, path] of each request a fault was
                       applied to since the faults were last cleared)
The request log (JSON lines) records every request as received, headers and
body included, so tests can check where each secret travelled.
"""
import argparse
import base64
import hashlib
import json
import re
import secrets
import sys
import threading
import time
import urllib.parse
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from faults import Faults, FaultingHandler

LOCK = threading.RLock()


def now():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(doc):
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def digest(doc):
    return "sha256:" + hashlib.sha256(canonical(doc).encode("utf-8")).hexdigest()


class Issued:
    """Every secret this process issued, in order. Append-only: neither
    /_sim/reset nor anything else clears it."""

    def __init__(self):
        self.keys = []
        self.tokens = []


class State:
    # What /_sim/reset clears. `issued` is deliberately not among them.
    RESETTABLE = ("hubs", "manifests", "consumers", "keys", "tokens", "widgets", "events")

    def __init__(self, operator_key):
        self.operator_key = operator_key
        self.hubs = {}
        self.manifests = {}  # slug -> [manifest]
        self.consumers = {}  # id -> consumer
        self.keys = {}  # id -> key (with secret)
        self.tokens = {}  # token -> {consumer, scopes, exp}
        self.widgets = {}  # (slug, key) -> widget
        self.events = {}  # (slug, idem) -> event
        self.faults = Faults()
        self.write_requests = 0
        self.writes = 0
        self.seq = 0
        self.latency_ms = 0
        self.in_flight = 0
        self.in_flight_max = 0
        self.issued = Issued()

    def new_id(self, kind):
        self.seq += 1
        return f"{kind}_{self.seq:04d}"

    def active_manifests(self):
        for slug, items in self.manifests.items():
            for m in items:
                if m["status"] == "active":
                    yield slug, m

    def public_state(self):
        return {
            "hubs": list(self.hubs.values()),
            "manifests": {s: [{k: v for k, v in m.items() if k != "document"} for m in ms] for s, ms in self.manifests.items()},
            "consumers": list(self.consumers.values()),
            "keys": [{k: v for k, v in key.items() if k != "secret"} for key in self.keys.values()],
            "widgets": list(self.widgets.values()),
            "events": [{k: v for k, v in e.items() if k != "body"} for e in self.events.values()],
            "writes": self.writes,
            "write_requests": self.write_requests,
            "held": self.faults.held,
            "fired": self.faults.fired_requests(),
            "in_flight_max": self.in_flight_max,
            "latency_ms": self.latency_ms,
        }


class Reply(Exception):
    def __init__(self, status, body=None, headers=None):
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers or {}


def err(status, code, message, **extra):
    e = {"code": code, "message": message}
    e.update(extra)
    return Reply(status, {"error": e})


class Handler(FaultingHandler, BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "interhub-sim/2"
    # TCP_NODELAY: the answer goes out at once. (With Nagle on, the body,
    # written after the headers, waited for the client's delayed ACK: ~40 ms
    # on every answer.)
    disable_nagle_algorithm = True
    error_body = {"error": {"code": "injected", "message": "fault injected by the simulator"}}
    oversized_field = "items"

    def log_message(self, *a):
        pass

    # ---- plumbing ----
    def _read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    @staticmethod
    def _encode(status, body=None, headers=None):
        """(status, bytes, headers) of a JSON answer."""
        data = b"" if body is None else json.dumps(body).encode()
        hs = list((headers or {}).items())
        if body is not None:
            hs.append(("Content-Type", "application/json"))
        return status, data, hs

    def _handle(self):
        raw = self._read_body()
        st = self.server.state
        path = self.path
        control = path.startswith("/_sim/")
        with LOCK:
            # Minting an access token (POST /api/v2/token) is a credential
            # exchange, not a write: it changes no hub state.
            if self.command != "GET" and not path.startswith(("/_sim/", "/api/v2/token")):
                st.write_requests += 1
            if not control:
                st.in_flight += 1
                st.in_flight_max = max(st.in_flight_max, st.in_flight)
            self.server.log_request_line({
                "ts": now(), "method": self.command, "path": path,
                "headers": {k: v for k, v in self.headers.items()},
                "body": raw.decode("utf-8", "replace"),
            })
        try:
            if not control and st.latency_ms:
                # A distant Inter-Hub: every answer is this far away (the
                # requests of a run overlap; nothing is serialised here).
                time.sleep(st.latency_ms / 1000)
            self.serve_with_faults(lambda: self._execute(st, raw))
        finally:
            if not control:
                with LOCK:
                    st.in_flight -= 1

    def _execute(self, st, raw):
        try:
            with LOCK:
                return self._encode(*route(self, st, raw))
        except Reply as r:
            return self._encode(r.status, r.body, r.headers)

    do_GET = do_POST = do_PUT = do_DELETE = _handle


# ---- request checks ----
def need_json(h, raw):
    ctype = (h.headers.get("Content-Type") or "").split(";")[0].strip()
    if ctype != "application/json":
        raise err(415, "unsupported_media_type", "Content-Type must be application/json")
    try:
        return json.loads(raw.decode("utf-8")) if raw else None
    except ValueError:
        raise err(400, "invalid_json", "body is not JSON")


def bearer(h):
    a = h.headers.get("Authorization") or ""
    return a[len("Bearer "):] if a.startswith("Bearer ") else None


def need_operator(h, st):
    if bearer(h) != st.operator_key:
        raise err(401, "unauthorized", "operator key missing or wrong")


def need_scope(h, st, slug, want):
    tok = bearer(h)
    t = st.tokens.get(tok)
    if not t or t["exp"] < time.time():
        raise err(401, "unauthorized", "access token missing, unknown or expired")
    if f"hub:{slug}:{want}" not in t["scopes"]:
        raise err(403, "forbidden", f"scope hub:{slug}:{want} required")


def schema_problems(schema, v, at="config"):
    """The contract's JSON Schema subset (type, required, properties,
    additionalProperties, const, enum, minLength, pattern, format uri, items,
    minItems, minimum, maximum): every problem, by path."""
    out = []
    t = schema.get("type")
    kinds = {"object": dict, "array": list, "string": str, "boolean": bool, "integer": int, "number": (int, float)}
    if t and not (isinstance(v, kinds[t]) and not (t in ("integer", "number") and isinstance(v, bool))):
        return [f"{at}: not {t}"]
    if "const" in schema and v != schema["const"]:
        out.append(f"{at}: not {schema['const']!r}")
    if "enum" in schema and v not in schema["enum"]:
        out.append(f"{at}: not one of {schema['enum']}")
    if isinstance(v, str):
        if len(v) < schema.get("minLength", 0):
            out.append(f"{at}: shorter than {schema['minLength']}")
        if "pattern" in schema and not re.search(schema["pattern"], v):
            out.append(f"{at}: does not match {schema['pattern']}")
        if schema.get("format") == "uri" and not re.match(r"^[a-z][a-z0-9+.-]*://", v):
            out.append(f"{at}: not a URI")
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        if "minimum" in schema and v < schema["minimum"]:
            out.append(f"{at}: below {schema['minimum']}")
        if "maximum" in schema and v > schema["maximum"]:
            out.append(f"{at}: above {schema['maximum']}")
    if isinstance(v, list):
        if len(v) < schema.get("minItems", 0):
            out.append(f"{at}: fewer than {schema['minItems']} items")
        for i, x in enumerate(v):
            out += schema_problems(schema.get("items", {}), x, f"{at}[{i}]")
    if isinstance(v, dict):
        props = schema.get("properties", {})
        for r in schema.get("required", []):
            if r not in v:
                out.append(f"{at}.{r}: required")
        for k, x in v.items():
            if k in props:
                out += schema_problems(props[k], x, f"{at}.{k}")
            elif schema.get("additionalProperties") is False:
                out.append(f"{at}.{k}: not allowed")
    return out


def check_manifest(doc, slug):
    details = []
    if not isinstance(doc, dict):
        raise err(422, "invalid_manifest", "manifest must be an object", details=["not an object"])
    if doc.get("hub") != slug:
        details.append("hub does not match the route")
    for field in ("widgetTypes", "eventTypes", "annotationCategories"):
        for it in doc.get(field) or []:
            k = it.get("key", "")
            if not k.startswith("ops."):
                details.append(f"{field}: {k!r} is outside the hub's namespace")
    if details:
        raise err(422, "invalid_manifest", "manifest failed validation", details=details)


# ---- routes ----
def route(h, st, raw):
    u = urllib.parse.urlsplit(h.path)
    p, q, m = u.path, urllib.parse.parse_qs(u.query), h.command
    parts = [x for x in p.split("/") if x]

    if p.startswith("/_sim/"):
        return sim_control(h, st, raw, p, m)
    if parts[:2] != ["api", "v2"]:
        raise err(404, "not_found", "no such route")
    rest = parts[2:]

    if m == "GET" and rest == ["health"]:
        return 200, {"status": "ok", "apiVersion": "2.4"}, {}
    registries = {
        "widget-types": "widgetTypes", "event-types": "eventTypes", "annotation-categories": "annotationCategories",
    }
    if m == "GET" and len(rest) == 1 and rest[0] in registries:
        items = []
        for slug, man in st.active_manifests():
            for it in man["document"].get(registries[rest[0]], []):
                entry = {"key": it["key"], "owner": slug}
                if "schema" in it:
                    entry["schema"] = it["schema"]
                if "label" in it:
                    entry["label"] = it["label"]
                items.append(entry)
        return 200, {"items": items}, {}
    if m == "GET" and rest == ["hub-registry"]:
        items = [{"slug": s, "name": st.hubs[s]["name"], "status": "active", "manifestDigest": man["digest"]}
                 for s, man in st.active_manifests()]
        return 200, {"items": items}, {}
    if m == "POST" and rest == ["token"]:
        return token(h, st, raw)
    if rest[:1] == ["admin"]:
        need_operator(h, st)
        return admin(h, st, raw, m, rest[1:], q)
    if rest[:1] == ["hubs"] and len(rest) >= 3:
        return hub_routes(h, st, raw, m, rest[1], rest[2:])
    raise err(404, "not_found", "no such route")


def token(h, st, raw):
    ctype = (h.headers.get("Content-Type") or "").split(";")[0].strip()
    if ctype != "application/x-www-form-urlencoded":
        raise Reply(400, {"error": "invalid_request"})
    f = {k: v[0] for k, v in urllib.parse.parse_qs(raw.decode(), keep_blank_values=True).items()}
    if f.get("grant_type") != "client_credentials":
        raise Reply(400, {"error": "unsupported_grant_type"})
    cons = st.consumers.get(f.get("client_id", ""))
    secret = f.get("client_secret", "")
    ok = cons and any(k["consumer"] == cons["id"] and k["status"] == "active" and k["secret"] == secret
                      for k in st.keys.values())
    if not ok:
        raise Reply(401, {"error": "invalid_client"})
    scopes = f.get("scope", "").split()
    allowed = set(cons["scopes"]) | {"framework:read"}
    if not scopes or not set(scopes) <= allowed:
        raise Reply(400, {"error": "invalid_scope"})
    tok = "iat_" + secrets.token_urlsafe(24)
    st.tokens[tok] = {"consumer": cons["id"], "scopes": scopes, "exp": time.time() + 300}
    st.issued.tokens.append(tok)
    return 200, {"access_token": tok, "token_type": "Bearer", "expires_in": 300, "scope": " ".join(scopes)}, {}


def admin(h, st, raw, m, rest, q):
    if rest == ["hubs"] and m == "POST":
        b = need_json(h, raw) or {}
        slug = b.get("slug", "")
        if not slug or not b.get("name"):
            raise err(400, "invalid_request", "slug and name are required")
        if slug in st.hubs:
            raise err(409, "conflict", "hub exists")
        hub = {"id": st.new_id("hub"), "slug": slug, "name": b["name"], "description": b.get("description", ""), "createdAt": now()}
        st.hubs[slug] = hub
        st.writes += 1
        return 201, hub, {}
    if len(rest) >= 2 and rest[0] == "hubs":
        slug = rest[1]
        if slug not in st.hubs:
            raise err(404, "not_found", "no such hub")
        if len(rest) == 2 and m == "GET":
            return 200, st.hubs[slug], {}
        if rest[2:] == ["manifests"] and m == "GET":
            return 200, {"items": [{k: v for k, v in x.items() if k != "document"} for x in st.manifests.get(slug, [])]}, {}
        if rest[2:] == ["manifests"] and m == "POST":
            doc = need_json(h, raw)
            check_manifest(doc, slug)
            d = digest(doc)
            for x in st.manifests.get(slug, []):
                if x["digest"] == d:
                    return 200, {k: v for k, v in x.items() if k != "document"}, {}
            man = {"id": st.new_id("man"), "version": doc.get("version"), "digest": d, "status": "draft", "createdAt": now(), "document": doc}
            st.manifests.setdefault(slug, []).append(man)
            st.writes += 1
            return 201, {k: v for k, v in man.items() if k != "document"}, {}
        if len(rest) == 5 and rest[2] == "manifests" and rest[4] == "activate" and m == "POST":
            target = next((x for x in st.manifests.get(slug, []) if x["id"] == rest[3]), None)
            if not target:
                raise err(404, "not_found", "no such manifest")
            if target["status"] != "active":
                for x in st.manifests[slug]:
                    if x["status"] == "active":
                        x["status"] = "superseded"
                target["status"] = "active"
                st.writes += 1
            return 200, {"id": target["id"], "status": "active"}, {}
    if rest == ["api-consumers"] and m == "GET":
        hub = (q.get("hub") or [""])[0]
        return 200, {"items": [c for c in st.consumers.values() if c["hub"] == hub]}, {}
    if rest == ["api-consumers"] and m == "POST":
        b = need_json(h, raw) or {}
        if b.get("hub") not in st.hubs:
            raise err(404, "not_found", "no such hub")
        if any(c["name"] == b.get("name") and c["hub"] == b["hub"] for c in st.consumers.values()):
            raise err(409, "conflict", "consumer exists")
        c = {"id": st.new_id("cons"), "name": b.get("name"), "hub": b["hub"], "scopes": list(b.get("scopes") or [])}
        st.consumers[c["id"]] = c
        st.writes += 1
        return 201, c, {}
    if len(rest) >= 3 and rest[0] == "api-consumers" and rest[2] == "keys":
        cid = rest[1]
        if cid not in st.consumers:
            raise err(404, "not_found", "no such consumer")
        if len(rest) == 3 and m == "GET":
            items = [{k: v for k, v in key.items() if k not in ("secret", "consumer")}
                     for key in st.keys.values() if key["consumer"] == cid]
            return 200, {"items": items}, {}
        if len(rest) == 3 and m == "POST":
            prefix = "ihk_" + secrets.token_hex(4)
            body = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
            key = {"id": st.new_id("key"), "prefix": prefix, "status": "active", "createdAt": now(),
                   "secret": f"{prefix}.{body}", "consumer": cid}
            st.keys[key["id"]] = key
            st.issued.keys.append(key["secret"])
            st.writes += 1
            return 201, {"id": key["id"], "prefix": prefix, "key": key["secret"], "createdAt": key["createdAt"]}, {}
        if len(rest) == 4 and m == "DELETE":
            key = st.keys.get(rest[3])
            if not key or key["consumer"] != cid:
                raise err(404, "not_found", "no such key")
            if key["status"] != "revoked":
                key["status"] = "revoked"
                st.writes += 1
            return 204, None, {}
    raise err(404, "not_found", "no such admin route")


def hub_routes(h, st, raw, m, slug, rest):
    if slug not in st.hubs:
        raise err(404, "not_found", "no such hub")
    if rest == ["widgets"] and m == "GET":
        need_scope(h, st, slug, "read")
        return 200, {"items": [w for (s, _), w in st.widgets.items() if s == slug]}, {}
    if len(rest) == 2 and rest[0] == "widgets" and m == "PUT":
        need_scope(h, st, slug, "write")
        b = need_json(h, raw) or {}
        types = {it["key"]: it.get("schema") or {} for s, man in st.active_manifests()
                 for it in man["document"].get("widgetTypes", [])}
        if b.get("type") not in types:
            raise err(422, "invalid_widget", "type is not a registered widget type", details=[b.get("type")])
        problems = schema_problems(types[b["type"]], b.get("config"))
        if problems:
            raise err(422, "invalid_widget_config", "config does not match the widget type's schema", details=problems)
        k = (slug, rest[1])
        cur = st.widgets.get(k)
        new = {"id": cur["id"] if cur else st.new_id("wid"), "key": rest[1], "type": b["type"],
               "title": b.get("title", ""), "config": b.get("config") or {}}
        if cur == new:
            return 200, cur, {}
        st.widgets[k] = new
        st.writes += 1
        return (200 if cur else 201), new, {}
    if rest == ["events"] and m == "POST":
        need_scope(h, st, slug, "write")
        idem = h.headers.get("Idempotency-Key")
        if not idem:
            raise err(400, "idempotency_key_required", "Idempotency-Key header is required")
        b = need_json(h, raw) or {}
        types = {it["key"]: it.get("schema") or {} for s, man in st.active_manifests()
                 for it in man["document"].get("eventTypes", [])}
        if b.get("type") not in types:
            raise err(422, "invalid_event", "type is not a registered event type")
        missing = [f for f in ("source", "payload") if f not in b]
        if missing:
            raise err(422, "invalid_event", "an event needs source and payload", details=missing)
        problems = schema_problems(types[b["type"]], b["payload"], "payload")
        if problems:
            raise err(422, "invalid_event", "payload does not match the event type's schema", details=problems)
        prev = st.events.get((slug, idem))
        if prev:
            if prev["body"] != canonical(b):
                raise err(422, "idempotency_key_reused", "this Idempotency-Key was used with another body")
            return 200, {"id": prev["id"], "type": prev["type"], "receivedAt": prev["receivedAt"]}, {}
        ev = {"id": st.new_id("evt"), "type": b["type"], "receivedAt": now(), "idempotencyKey": idem,
              "body": canonical(b)}
        st.events[(slug, idem)] = ev
        st.writes += 1
        return 201, {"id": ev["id"], "type": ev["type"], "receivedAt": ev["receivedAt"]}, {}
    raise err(404, "not_found", "no such hub route")


def sim_control(h, st, raw, p, m):
    if p == "/_sim/faults" and m == "POST":
        return 201, {"faults": st.faults.add(json.loads(raw or b"{}"))}, {}
    if p == "/_sim/faults" and m == "DELETE":
        st.faults.clear()
        return 200, {"faults": []}, {}
    if p == "/_sim/reset" and m == "POST":
        # A fresh Inter-Hub (the fault matrix runs each cell from scratch).
        # The record of issued secrets stays: the scans look for all of them.
        for k in State.RESETTABLE:
            getattr(st, k).clear()
        st.faults.clear()
        st.faults.release()
        st.write_requests = 0
        st.in_flight_max = 0
        return 200, {"reset": True}, {}
    if p == "/_sim/latency" and m == "POST":
        st.latency_ms = int(json.loads(raw or b"{}").get("ms", 0))
        return 200, {"latency_ms": st.latency_ms}, {}
    if p == "/_sim/counters" and m == "DELETE":
        # A new measurement: the in-flight high-water mark and write count restart.
        st.in_flight_max = 0
        st.write_requests = 0
        return 200, {"reset": True}, {}
    if p == "/_sim/release" and m == "POST":
        st.faults.release()
        return 200, {"released": True}, {}
    if p == "/_sim/state" and m == "GET":
        return 200, st.public_state(), {}
    if p == "/_sim/secrets" and m == "GET":
        # Every secret this simulator process ever issued (keys, revoked ones
        # too, and access tokens), resets included, for the tests' output
        # scans. Never called by ops-warden.
        return 200, {"keys": list(st.issued.keys), "tokens": list(st.issued.tokens)}, {}
    raise err(404, "not_found", "no such control route")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog (5) drops the handshakes of a client's
    # concurrent requests beyond 6; a real service's is far larger.
    request_queue_size = 128

    def __init__(self, addr, state, log_path):
        super().__init__(addr, Handler)
        self.state = state
        self.faults = state.faults
        self.log = open(log_path, "a", buffering=1) if log_path else None

    def log_request_line(self, entry):
        if self.log:
            self.log.write(json.dumps(entry) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--operator-key-file", required=True)
    ap.add_argument("--port-file")
    ap.add_argument("--request-log")
    ap.add_argument("--latency-ms", type=int, default=0)
    ap.add_argument("--tls-host")
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--tls-port-file")
    a = ap.parse_args()
    if a.host not in ("127.0.0.1", "::1", "localhost"):
        sys.exit("the simulator's plain listener is on loopback only")
    if a.tls_host and not a.tls_host.startswith("10.77."):
        sys.exit("the TLS listener is on the fleet test's bridge (10.77.0.0/16) only")
    with open(a.operator_key_file) as f:
        op = f.read().strip()
    state = State(op)
    state.latency_ms = a.latency_ms
    srv = Server((a.host, a.port), state, a.request_log)
    if a.tls_host:
        import os
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.tls_cert, a.tls_key)
        tls = Server((a.tls_host, 0), state, None)
        tls.log = srv.log
        tls.socket = ctx.wrap_socket(tls.socket, server_side=True)
        tmp = a.tls_port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(str(tls.server_address[1]))
        os.replace(tmp, a.tls_port_file)
        threading.Thread(target=tls.serve_forever, daemon=True).start()
    port = srv.server_address[1]
    if a.port_file:
        tmp = a.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(str(port))
        import os
        os.replace(tmp, a.port_file)
    print(f"interhub-sim listening on {a.host}:{port}", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
