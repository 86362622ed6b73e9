#!/usr/bin/env python3
"""Small measuring tools for bench/run.sh.

  measure.py time N -- CMD...     median and p90 wall time (ms) of N runs
  measure.py rss -- CMD...        peak RSS (KiB) of the largest child process
  measure.py audit-log PATH N     writes a valid hash-chained audit log of N records
  measure.py once -- CMD...       wall time (ms) of one run, and its exit code
  measure.py ab N -- CMD_A... --- CMD_B...  A and B run alternately N times each
                                  (drift hits both alike): both medians and p90s
  measure.py sim BASE METHOD PATH [JSON]   a control call to the Inter-Hub simulator
  measure.py waves LOG FROM LATENCY_MS     the simulator's requests logged after line
                                  FROM, grouped into waves (a request that waited
                                  for another's answer arrives >= LATENCY_MS later)
"""
import hashlib
import json
import resource
import statistics
import subprocess
import sys
import time


def run_time(n, cmd):
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # warm-up
    samples, failures = [], 0
    for _ in range(n):
        t = time.perf_counter()
        p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        samples.append((time.perf_counter() - t) * 1000)
        failures += p.returncode != 0
    samples.sort()
    print(json.dumps({"median_ms": round(statistics.median(samples), 2),
                      "p90_ms": round(samples[int(len(samples) * 0.9) - 1], 2), "runs": n,
                      "failures": failures}))


def run_rss(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = p.stdout.decode(errors="replace")
    print(json.dumps({"peak_rss_kib": ru.ru_maxrss, "exit": p.returncode,
                      "outcome": (json.loads(out).get("outcome") if out.strip().startswith("{") else None)}))


def audit_log(path, n):
    prev, lines = "0" * 64, []
    for seq in range(1, n + 1):
        rec = {"event": "chain-start" if seq == 1 else ("intent" if seq % 2 == 0 else "result"),
               "seq": seq, "prev": prev, "ts": "2026-11-30T00:00:00.000Z", "run_id": "%024x" % seq,
               "command": "bootstrap", "host": "bench",
               "caller": {"key_id": "agt-token-codex-interhub-bootstrap-" + "ab" * 32, "serial": seq,
                          "principal": "agt-interhub-bootstrap"}}
        line = json.dumps(rec, separators=(",", ":"), sort_keys=True)
        prev = hashlib.sha256(line.encode()).hexdigest()
        lines.append(line)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def run_once(cmd):
    t = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    print(json.dumps({"ms": round((time.perf_counter() - t) * 1000, 1), "exit": p.returncode}))


def run_ab(n, a, b):
    samples = {"a": [], "b": []}
    failures = 0
    for cmd in (a, b):  # warm-up
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(n):
        for name, cmd in (("a", a), ("b", b)):
            t = time.perf_counter()
            p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            samples[name].append((time.perf_counter() - t) * 1000)
            failures += p.returncode != 0
    out = {"failures": failures, "runs": n}
    for name, xs in samples.items():
        xs.sort()
        out[name] = {"median_ms": round(statistics.median(xs), 2), "p90_ms": round(xs[int(len(xs) * 0.9) - 1], 2)}
    print(json.dumps(out))


def sim(base, method, path, body=None):
    import urllib.request
    req = urllib.request.Request(base + path, method=method, data=body.encode() if body else None,
                                 headers={"Content-Type": "application/json"} if body else {})
    with urllib.request.urlopen(req, timeout=10) as r:
        print(r.read().decode())


def waves(log, start, latency_ms):
    from datetime import datetime
    rows = [json.loads(l) for l in open(log).read().splitlines()[start:] if l.strip()]
    rows = [r for r in rows if not r["path"].startswith("/_sim/")]
    out, first = [], None
    for r in rows:
        t = datetime.strptime(r["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()
        if first is None or t - first >= 0.9 * latency_ms / 1000:
            first = t
            out.append([])
        out[-1].append(r["method"] + " " + r["path"])
    print(json.dumps({"requests": len(rows), "waves": len(out),
                      "writes": sum(1 for r in rows if r["method"] != "GET" and r["path"] != "/api/v2/token"),
                      "lists": [len(w) for w in out]}))


if __name__ == "__main__":
    a = sys.argv[1:]
    if a[0] == "time":
        run_time(int(a[1]), a[3:])
    elif a[0] == "rss":
        run_rss(a[2:])
    elif a[0] == "audit-log":
        audit_log(a[1], int(a[2]))
    elif a[0] == "ab":
        rest = a[3:]
        cut = rest.index("---")
        run_ab(int(a[1]), rest[:cut], rest[cut + 1:])
    elif a[0] == "once":
        run_once(a[2:])
    elif a[0] == "sim":
        sim(a[1], a[2], a[3], a[4] if len(a) > 4 else None)
    elif a[0] == "waves":
        waves(a[1], int(a[2]), float(a[3]))
