#!/usr/bin/env python3
"""Writes a valid ops-warden audit chain of about SIZE_MIB MiB to PATH:
a chain-start, then intent/result pairs shaped like real records."""
import hashlib
import json
import sys

path, size = sys.argv[1], int(sys.argv[2]) << 20
prev = "0" * 64
seq = 0
written = 0
caller = {"principal": "agt-interhub-bootstrap", "key_id": "agt-ops-interhub-bootstrap-3f9a1c2b",
          "serial": 1234567, "ca_fingerprint": "SHA256:rOt2Vg38Vc/xl8/w/RDBDthKTmEYNYOh0cE4mLnZEho",
          "valid_after": "2026-11-30T04:16:30Z", "valid_before": "2026-11-30T04:21:30Z",
          "client_address": "10.20.30.40", "critical_options": ["source-address"], "extensions": []}
with open(path, "w") as f:
    def rec(r):
        global prev, seq, written
        seq += 1
        r["seq"], r["prev"], r["ts"] = seq, prev, "2026-11-30T04:16:31.123Z"
        line = json.dumps(r, separators=(",", ":"), sort_keys=True)
        prev = hashlib.sha256(line.encode()).hexdigest()
        f.write(line + "\n")
        written += len(line) + 1
    rec({"event": "chain-start", "host": "bench", "version": "0.1.0", "new_chain": True})
    run = 0
    while written < size:
        run += 1
        rid = f"{run:024x}"
        base = {"run_id": rid, "mode": "force-command", "host": "bench", "pid": 4242, "uid": 999,
                "version": "0.1.0", "command": "bootstrap", "caller": caller, "client_address": "10.20.30.40"}
        rec(dict(base, event="intent"))
        rec(dict(base, event="result", outcome="ok", error=None, duration_ms=23,
                 result={"runtime_key": {"status": "reused", "prefix": "ihk_1a2b3c4d"}}))
print(f"make_log: {written >> 20} MiB, {seq} records", file=sys.stderr)
