#!/usr/bin/env python3
"""A small stand-in for the ops-hub repo's `make interhub-bootstrap` helper,
implementing the interface in the contract (environment in, one JSON document
out, a created key written to a 0600 file under TMPDIR). Used by the tests of
ops-warden's helper runner against the simulator.

argv: SEEDS_DIR [--fail-after-key] [--sleep N] [--print-key-in-stderr] [--big-output] [--report-uid FILE]
      [--key-in-stdout] (a broken helper: prints the display-once key instead of writing the file)
      [--make-no-key] (a broken helper: reports success with no runtime key at all)
      [--dump-env FILE] (its argv and environment, for the secret scan)
      [--park SECONDS FILE] (first thing: ignores SIGTERM, so that only SIGKILL ends it,
                             writes FILE to say so, then sleeps SECONDS)
"""
import json
import os
import signal
import sys
import tempfile
import time
import urllib.error
import urllib.request


def call(method, path, body=None, token=None, form=None, headers=None):
    base = os.environ["IHUB_BASE"]
    data, h = None, dict(headers or {})
    if body is not None:
        data, h["Content-Type"] = json.dumps(body).encode(), "application/json"
    if form is not None:
        data, h["Content-Type"] = form.encode(), "application/x-www-form-urlencoded"
    if token:
        h["Authorization"] = "Bearer " + token
    req = urllib.request.Request(base + path, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            raw = r.read()
            return r.status, (json.loads(raw) if raw else None)
    except urllib.error.HTTPError as e:
        raw = e.read()
        return e.code, (json.loads(raw) if raw else None)


def main():
    args = sys.argv[1:]
    seeds = args[0]
    if "--park" in args:
        i = args.index("--park")
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        with open(args[i + 2], "w") as f:
            f.write("parked %d\n" % os.getpid())
        time.sleep(float(args[i + 1]))
    if "--sleep" in args:
        time.sleep(float(args[args.index("--sleep") + 1]))
    op = open(os.environ["IHUB_OPERATOR_KEY_FILE"]).read().strip()
    manifest = json.load(open(os.path.join(seeds, "ops-hub-manifest.draft.json")))
    widgets = json.load(open(os.path.join(seeds, "ops-hub-widgets.seed.json")))
    out = {"note": "not part of the contract: the caller never sees it"}
    if "--dump-env" in args:
        # Its command line and environment, for the tests' secret scan.
        with open(args[args.index("--dump-env") + 1], "w") as f:
            json.dump({"argv": sys.argv, "env": dict(os.environ)}, f)
    if "--report-uid" in args:
        # Who ran it, to a file the test names: the helper never runs as root.
        with open(args[args.index("--report-uid") + 1], "w") as f:
            json.dump({"uid": os.getuid(), "gid": os.getgid(), "groups": sorted(os.getgroups())}, f)
    st, hub = call("GET", "/api/v2/admin/hubs/ops-hub", token=op)
    if st == 404:
        st, hub = call("POST", "/api/v2/admin/hubs", {"slug": "ops-hub", "name": manifest["name"], "description": ""}, token=op)
        out["hub"] = {"id": hub["id"], "slug": "ops-hub", "status": "created"}
    else:
        out["hub"] = {"id": hub["id"], "slug": "ops-hub", "status": "reused"}
    st, man = call("POST", "/api/v2/admin/hubs/ops-hub/manifests", manifest, token=op)
    call("POST", f"/api/v2/admin/hubs/ops-hub/manifests/{man['id']}/activate", token=op)
    out["manifest"] = {"id": man["id"], "digest": man["digest"], "status": "created" if st == 201 else "reused"}
    st, lst = call("GET", "/api/v2/admin/api-consumers?hub=ops-hub", token=op)
    cons = next((c for c in lst["items"] if c["name"] == "ops-hub"), None)
    if cons is None:
        st, cons = call("POST", "/api/v2/admin/api-consumers", {"name": "ops-hub", "hub": "ops-hub", "scopes": manifest["scopes"]}, token=op)
        out["consumer"] = {"id": cons["id"], "status": "created"}
    else:
        out["consumer"] = {"id": cons["id"], "status": "reused"}
    key_file = os.environ.get("OPS_HUB_KEY_FILE")
    if "--make-no-key" in args:
        print(json.dumps(out))
        return
    if "--key-in-stdout" in args:
        st, k = call("POST", f"/api/v2/admin/api-consumers/{cons['id']}/keys", token=op)
        print("debug: made " + k["key"] + " (" + json.dumps(k["key"]) + ")", file=sys.stderr)
        out["runtimeKey"] = {"key": k["key"], "prefix": k["prefix"] + " " + k["key"], "status": "created"}
        print(json.dumps(out))
        return
    if key_file:
        key = open(key_file).read().strip()
        out["runtimeKey"] = {"prefix": key.split(".")[0], "status": "reused"}
    else:
        st, k = call("POST", f"/api/v2/admin/api-consumers/{cons['id']}/keys", token=op)
        key = k["key"]
        fd, path = tempfile.mkstemp(prefix="ops-hub-key-", dir=os.environ["TMPDIR"])
        os.write(fd, key.encode())
        os.close(fd)
        os.chmod(path, 0o600)
        out["runtimeKey"] = {"prefix": k["prefix"], "status": "created", "keyFile": path}
        if "--print-key-in-stderr" in args:
            print("debug: " + key, file=sys.stderr)
        if "--fail-after-key" in args:
            print(json.dumps({"error": {"code": "boom", "message": "failed after creating the key"}}))
            sys.exit(3)
    form = ("grant_type=client_credentials&client_id=" + cons["id"] + "&client_secret=" + key
            + "&scope=framework%3Aread+hub%3Aops-hub%3Aread+hub%3Aops-hub%3Awrite")
    st, tok = call("POST", "/api/v2/token", form=form)
    token = tok["access_token"]
    out["widgets"] = []
    for w in widgets["widgets"]:
        st, got = call("PUT", f"/api/v2/hubs/ops-hub/widgets/{w['key']}", {"type": w["type"], "title": w["title"], "config": w["config"]}, token=token)
        out["widgets"].append({"key": w["key"], "id": got["id"], "status": "created" if st == 201 else "unchanged"})
    if os.environ.get("IHUB_SKIP_EVENT") == "1":
        out["event"] = {"id": None, "status": "skipped"}
    else:
        st, ev = call("POST", "/api/v2/hubs/ops-hub/events", {"type": "ops.gitea.readiness", "source": "helper", "payload": {"component": "gitea", "status": "ready"}},
                      token=token, headers={"Idempotency-Key": "helper-gitea-readiness"})
        out["event"] = {"id": ev["id"], "status": "created" if st == 201 else "unchanged"}
    if "--big-output" in args:
        out["notes"] = ["n" * 1500] * 120
    print(json.dumps(out))


if __name__ == "__main__":
    main()
