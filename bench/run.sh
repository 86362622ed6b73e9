#!/usr/bin/env bash
# Benchmarks, measured side by side in one run; prints figures (no pass/fail).
#   bash bench/run.sh (as root)        (OW_BENCH_RUNS=N to change the sample size)
#   OW_BENCH_BASELINE=/path/to/an/older/ops-warden: its rerun is measured too,
#   side by side (ops-warden alone, as sshd runs it: no login noise).
# Built with --release (OW_LAB_PROFILE=release), as installed on hosts.
#
# Side by side: the ssh login floor (ForceCommand /bin/true) and `whoami`;
# a rerun `bootstrap` with Inter-Hub on loopback and 25 ms away (the
# simulator's latency setting; wall time, and the requests and their waves
# of round trips from the simulator's request log); a first run with 1,000
# seed widgets; and the runbook's path (bao CLI get → the API helper → bao
# CLI put) as the reference.
set -euo pipefail
cd "$(dirname "$0")/.."
source tests/lab/lib.sh
N="${OW_BENCH_RUNS:-30}"
export OW_LAB_PROFILE="${OW_LAB_PROFILE:-release}"
lab_require
lab_build
lab_up

M() { python3 bench/measure.py "$@"; }
# A timed ssh figure only counts when every run succeeded.
ok() { python3 -c 'import json,sys; d=json.loads(sys.argv[1]); sys.exit(d.get("failures",0) > 0)' "$1" \
  || lab_die "$2: some runs failed: $1"; }
SIMC() { M sim "http://127.0.0.1:$SIM_PORT" "$@" >/dev/null; }
SIM_LOG="$LAB/sim-requests.jsonl"
log_lines() { wc -l < "$SIM_LOG"; }
# A certificate valid for the next minutes (the SSH role's TTL is 5 min).
fresh_cert() {
  BAO_TOKEN="$WRAPPER_TOKEN" "$BAO" write -field=signed_key ssh-client-signer/sign/interhub-bootstrap \
    public_key=@"$LAB/operator/id_ed25519.pub" > "$LAB/operator/id_ed25519-cert.pub"
  printf 'publickey %s\n' "$(cut -d' ' -f1,2 "$LAB/operator/id_ed25519-cert.pub")" > "$AUTH"
  chown "$LAB_USER:" "$AUTH"; chmod 0600 "$AUTH"
}
AUTH="$LAB/sshauth"
fresh_cert
# ops-warden as sshd runs it, without the login (for first runs, which need
# a fresh Inter-Hub and another seed file): FORCED <config> force-command.
FORCED=(runuser -u "$LAB_USER" -- env -i SSH_ORIGINAL_COMMAND=bootstrap SSH_USER_AUTH="$AUTH"
  SSH_CONNECTION="127.0.0.1 1 127.0.0.1 22" "$LAB/bin/ops-warden" --config)

# A second sshd, same settings and user, whose ForceCommand is /bin/true: the
# cost of an SSH login itself, which dominates.
BASE_PORT=$(lab_free_port)
lab_sshd_config "$BASE_PORT" "/bin/true" > "$LAB/etc/sshd_config.baseline"
/usr/sbin/sshd -D -e -f "$LAB/etc/sshd_config.baseline" 2>"$LAB/sshd-baseline.log" &
LAB_PIDS+=($!)
lab_wait_port "$BASE_PORT" "baseline sshd"

# Peak RSS of a full (first, creating) bootstrap, run as sshd would run it.
RSS=$(M rss -- "${FORCED[@]}" "$LAB/etc/ops-warden.toml" force-command)

SSH_OPTS=(-F /dev/null -T -i "$LAB/operator/id_ed25519" -o CertificateFile="$LAB/operator/id_ed25519-cert.pub"
  -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR)
BOOT=(ssh "${SSH_OPTS[@]}" -p "$SSHD_PORT" "$LAB_USER@127.0.0.1" bootstrap)

lab_say "timing ($N runs each): login floor, whoami, rerun on loopback"
T_BASE=$(M time "$N" -- ssh "${SSH_OPTS[@]}" -p "$BASE_PORT" "$LAB_USER@127.0.0.1" whoami); ok "$T_BASE" "login floor"
T_WHOAMI=$(M time "$N" -- ssh "${SSH_OPTS[@]}" -p "$SSHD_PORT" "$LAB_USER@127.0.0.1" whoami); ok "$T_WHOAMI" whoami
T_BOOT=$(M time "$N" -- "${BOOT[@]}"); ok "$T_BOOT" "rerun, loopback"
FROM=$(log_lines); "${BOOT[@]}" >/dev/null
W_BOOT=$(M waves "$SIM_LOG" "$FROM" 0)
# The same rerun without the login (its noise is larger than the work).
T_ALONE=$(M time "$N" -- "${FORCED[@]}" "$LAB/etc/ops-warden.toml" force-command); ok "$T_ALONE" "rerun alone"
BASE_BIN="${OW_BENCH_BASELINE:-}"
T_BASE_ALONE='{"median_ms": 0}'; T_BASE_ALONE25='{"median_ms": 0}'; W_BASE25='{"requests": 0, "waves": 0, "writes": 0, "lists": []}'
if [ -n "$BASE_BIN" ]; then
  install -m 0755 "$BASE_BIN" "$LAB/bin/ops-warden-baseline"
  # (An older parser refuses keys it does not know.)
  grep -v '^failover_secs' "$LAB/etc/ops-warden.toml" > "$LAB/etc/ops-warden-baseline.toml"
  chmod 0644 "$LAB/etc/ops-warden-baseline.toml"
  BASELINE=(runuser -u "$LAB_USER" -- env -i SSH_ORIGINAL_COMMAND=bootstrap SSH_USER_AUTH="$AUTH"
    SSH_CONNECTION="127.0.0.1 1 127.0.0.1 22" "$LAB/bin/ops-warden-baseline" --config "$LAB/etc/ops-warden-baseline.toml" force-command)
  T_BASE_ALONE=$(M time "$N" -- "${BASELINE[@]}"); ok "$T_BASE_ALONE" "baseline rerun alone"
fi

lab_say "rerun with every Inter-Hub answer 25 ms away"
fresh_cert
SIMC POST /_sim/latency '{"ms": 25}'
T_BOOT25=$(M time "$N" -- "${BOOT[@]}"); ok "$T_BOOT25" "rerun, 25 ms"
FROM=$(log_lines); "${BOOT[@]}" >/dev/null
W_BOOT25=$(M waves "$SIM_LOG" "$FROM" 25)
T_ALONE25=$(M time "$N" -- "${FORCED[@]}" "$LAB/etc/ops-warden.toml" force-command); ok "$T_ALONE25" "rerun alone, 25 ms"
if [ -n "$BASE_BIN" ]; then
  T_BASE_ALONE25=$(M time "$N" -- "${BASELINE[@]}"); ok "$T_BASE_ALONE25" "baseline rerun alone, 25 ms"
  FROM=$(log_lines); "${BASELINE[@]}" >/dev/null
  W_BASE25=$(M waves "$SIM_LOG" "$FROM" 25)
fi

lab_say "1,000 seed widgets: first runs (fresh Inter-Hub, empty slot) and a rerun"
install -d -m 0755 "$LAB/seeds-1000"
install -m 0644 seeds/ops-hub-manifest.draft.json "$LAB/seeds-1000/"
python3 - "$LAB/seeds-1000/ops-hub-widgets.seed.json" <<'PY'
import json, sys
w = [{"key": f"svc-{i:04}", "type": "ops.service-status-card", "title": f"Service {i}",
      "config": {"service": f"svc-{i:04}", "environment": "production"}} for i in range(1000)]
json.dump({"hub": "ops-hub", "widgets": w}, open(sys.argv[1], "w"))
PY
chmod 0644 "$LAB/seeds-1000/ops-hub-widgets.seed.json"
sed -e "s|^widgets = .*|widgets = \"$LAB/seeds-1000/ops-hub-widgets.seed.json\"|" \
    -e "s|^manifest = .*|manifest = \"$LAB/seeds-1000/ops-hub-manifest.draft.json\"|" \
    "$LAB/etc/ops-warden.toml" > "$LAB/etc/ops-warden-1000.toml"
chmod 0644 "$LAB/etc/ops-warden-1000.toml"
first_run_1000() { # latency ms
  SIMC POST /_sim/reset
  SIMC POST /_sim/latency "{\"ms\": $1}"
  "$BAO" kv metadata delete secret/platform/operators/ops-hub/runtime >/dev/null
  rm -f "$LAB/state"/event-*
  fresh_cert
  local from; from=$(log_lines)
  local t; t=$(M once -- "${FORCED[@]}" "$LAB/etc/ops-warden-1000.toml" force-command)
  local w; w=$(M waves "$SIM_LOG" "$from" "$1")
  local peak; peak=$(M sim "http://127.0.0.1:$SIM_PORT" GET /_sim/state | python3 -c 'import json,sys; print(json.load(sys.stdin)["in_flight_max"])')
  printf '{"run": %s, "log": %s, "peak": %s}\n' "$t" "$w" "$peak"
}
F1000_0=$(first_run_1000 0)
F1000_25=$(first_run_1000 25)
FROM=$(log_lines)
R1000_25=$(M once -- "${FORCED[@]}" "$LAB/etc/ops-warden-1000.toml" force-command)
W1000_25=$(M waves "$SIM_LOG" "$FROM" 25)
SIMC POST /_sim/latency '{"ms": 0}'

lab_say "the runbook's path (bao CLI get → API helper → bao CLI put), the reference"
export IHUB_BASE="http://127.0.0.1:$SIM_PORT" SEEDS_DIR="$LAB/seeds" BAO
T_RUNBOOK=$(M time "$N" -- bash bench/runbook.sh); ok "$T_RUNBOOK" "runbook path"

lab_say "process costs"
T_TRUE=$(M time "$N" -- /bin/true)
T_VERSION=$(M time "$N" -- "$LAB/bin/ops-warden" --version)
T_REFUSED=$(M time "$N" -- runuser -u "$LAB_USER" -- env -i SSH_ORIGINAL_COMMAND='whoami; id' SSH_USER_AUTH="$AUTH" \
      "$LAB/bin/ops-warden" --config "$LAB/etc/ops-warden.toml" force-command)
T_RUNUSER=$(M time "$N" -- runuser -u "$LAB_USER" -- /bin/true)

lab_say "audit verify throughput"
M audit-log "$LAB/big-audit.jsonl" 200000
SIZE=$(stat -c %s "$LAB/big-audit.jsonl")
T_VERIFY=$(M time 5 -- "$LAB/bin/ops-warden" audit verify --file "$LAB/big-audit.jsonl")
T_SHA=$(M time 5 -- sha256sum "$LAB/big-audit.jsonl")
"$LAB/bin/ops-warden" audit verify --file "$LAB/big-audit.jsonl" | grep -q '"ok":true' || lab_die "generated log does not verify"

python3 - "$N" "$SIZE" <<PY
import json, sys
n, size = sys.argv[1], int(sys.argv[2])
j = json.loads
base, whoami, boot, boot25 = (j(x)["median_ms"] for x in ('$T_BASE', '$T_WHOAMI', '$T_BOOT', '$T_BOOT25'))
alone, alone25, balone, balone25 = (j(x)["median_ms"] for x in ('$T_ALONE', '$T_ALONE25', '$T_BASE_ALONE', '$T_BASE_ALONE25'))
wbase25 = j('$W_BASE25')
baseline = ""
if balone:
    baseline = f"""
  the same, the older build given as OW_BENCH_BASELINE ({'$BASE_BIN'}):
  rerun alone, loopback, older build             {balone:8.1f} ms   this build {alone:8.1f} ms   ratio {alone/balone:5.2f}
  rerun alone, 25 ms away, older build           {balone25:8.1f} ms   this build {alone25:8.1f} ms   ratio {alone25/balone25:5.2f}
      older build's request log: {wbase25['requests']} requests in {wbase25['waves']} waves"""
runbook, true, ver, refused, runuser = (j(x)["median_ms"] for x in ('$T_RUNBOOK', '$T_TRUE', '$T_VERSION', '$T_REFUSED', '$T_RUNUSER'))
verify, sha = j('$T_VERIFY')["median_ms"], j('$T_SHA')["median_ms"]
wb, wb25, w1000 = j('$W_BOOT'), j('$W_BOOT25'), j('$W1000_25')
f0, f25, r1000 = j('$F1000_0'), j('$F1000_25'), j('$R1000_25')
rss = j('$RSS')
mb = size / 1e6
beyond = boot25 - base
print(f"""
ops-warden benchmarks (medians of {n} runs; {open('/proc/cpuinfo').read().count('processor')} cores; Inter-Hub = the simulator)
  ssh login floor (ForceCommand /bin/true)      {base:8.1f} ms
  ssh … whoami via ops-warden                    {whoami:8.1f} ms   ratio to the floor {whoami/base:5.2f}
  ssh … bootstrap rerun, Inter-Hub on loopback   {boot:8.1f} ms   ratio to the floor {boot/base:5.2f}   ({wb['requests']} Inter-Hub requests, {wb['writes']} writes)
  ssh … bootstrap rerun, Inter-Hub 25 ms away    {boot25:8.1f} ms   = floor + {beyond:6.1f} ms = {beyond/25:4.1f} round trips of 25 ms
      request log: {wb25['requests']} requests in {wb25['waves']} waves {wb25['lists']}, {wb25['writes']} writes
  rerun, ops-warden alone (as sshd runs it, no login): loopback {alone:6.1f} ms, 25 ms away {alone25:6.1f} ms{baseline}
  first run, 1,000 widgets, loopback             {f0['run']['ms']:8.1f} ms   exit {f0['run']['exit']}; {f0['log']['requests']} requests, at most {f0['peak']} in flight
  first run, 1,000 widgets, 25 ms away           {f25['run']['ms']:8.1f} ms   exit {f25['run']['exit']}; {f25['log']['requests']} requests in {f25['log']['waves']} waves, at most {f25['peak']} in flight
  rerun, 1,000 widgets, 25 ms away               {r1000['ms']:8.1f} ms   exit {r1000['exit']}; {w1000['requests']} requests in {w1000['waves']} waves, {w1000['writes']} writes
  runbook path (bao get ×2 → helper → bao put)   {runbook:8.1f} ms   (no login) = {runbook/boot:4.1f}× the ssh rerun on loopback
  ops-warden --version                           {ver:8.2f} ms   vs /bin/true {true:6.2f} ms
  refused command (audited)                      {refused:8.2f} ms   vs runuser /bin/true {runuser:6.2f} ms  (both via runuser)
  audit verify, {mb:.1f} MB / 200k rec        {verify:8.1f} ms = {mb/verify*1000:6.1f} MB/s   vs sha256sum {sha:6.1f} ms = {mb/sha*1000:6.1f} MB/s
  peak RSS, full first bootstrap                 {rss['peak_rss_kib']/1024:8.1f} MiB  (outcome {rss['outcome']})
""")
PY
