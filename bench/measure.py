#!/usr/bin/env python3
"""Small measuring tools for bench/run.sh.

  measure.py time N -- CMD...     median and p90 wall time (ms) of N runs
  measure.py rss -- CMD...        peak RSS (KiB) of the largest child process
  measure.py audit-log PATH N     writes a valid hash-chained audit log of N records
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
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        samples.append((time.perf_counter() - t) * 1000)
    samples.sort()
    print(json.dumps({"median_ms": round(statistics.median(samples), 2),
                      "p90_ms": round(samples[int(len(samples) * 0.9) - 1], 2), "runs": n}))


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


if __name__ == "__main__":
    a = sys.argv[1:]
    if a[0] == "time":
        run_time(int(a[1]), a[3:])
    elif a[0] == "rss":
        run_rss(a[2:])
    elif a[0] == "audit-log":
        audit_log(a[1], int(a[2]))
