#!/usr/bin/env bash
# `audit verify` on a large log, side by side with sha256sum over the same
# file, in one run (figures only, no pass/fail):
#   bash bench/verify.sh [SIZE_MIB]        (default 1024)
# Prints wall time, throughput and peak RSS of each, and verify/sha256sum.
# The log is a real chain (records shaped like ops-warden's), made by
# bench/make_log.py under /var/tmp and removed afterwards. Page cache warm
# for both (each runs once before it is timed).
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MIB="${1:-1024}"
[ -x /usr/bin/time ] || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
cargo build --release --locked --bin ops-warden >&2
BIN="$PWD/target/release/ops-warden"
WORK="$(mktemp -d /var/tmp/ow-bench-verify.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
python3 bench/make_log.py "$WORK/audit.jsonl" "$SIZE_MIB" >&2
python3 - "$BIN" "$WORK/audit.jsonl" "$SIZE_MIB" <<'PY'
import os, subprocess, sys, time
binary, log, size_mib = sys.argv[1], sys.argv[2], int(sys.argv[3])
size = os.path.getsize(log)

def measure(argv, runs=3):
    """Best wall time of `runs` (after one warm-up run) and the last output."""
    subprocess.run(argv, stdout=subprocess.DEVNULL, check=False)
    best, out = None, b""
    for _ in range(runs):
        t = time.perf_counter()
        out = subprocess.run(argv, stdout=subprocess.PIPE, check=False).stdout
        dt = time.perf_counter() - t
        best = dt if best is None else min(best, dt)
    return best, out

def peak_rss_kib(argv):
    """GNU time's maximum resident set size (a forked Python would count its own)."""
    r = subprocess.run(["/usr/bin/time", "-f", "%M"] + argv, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, check=False)
    return int(r.stderr.decode().strip().splitlines()[-1])

verify = [binary, "audit", "verify", "--json", "--file", log]
sha = ["sha256sum", log]
tv, out = measure(verify)
assert b'"ok":true' in out, out[:400]
ts, _ = measure(sha)
rv, rs = peak_rss_kib(verify), peak_rss_kib(sha)
mib = size / (1 << 20)
print(f"log: {mib:.0f} MiB, {sum(1 for _ in open(log, 'rb'))} records")
print(f"{'':18}{'wall s':>8}{'MiB/s':>9}{'peak RSS MiB':>14}")
print(f"{'audit verify':18}{tv:8.2f}{mib / tv:9.0f}{rv / 1024:14.1f}")
print(f"{'sha256sum':18}{ts:8.2f}{mib / ts:9.0f}{rs / 1024:14.1f}")
print(f"verify / sha256sum throughput: {ts / tv:.2f}x")
PY
