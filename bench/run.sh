#!/usr/bin/env bash
# Benchmarks, measured in one run on loopback; prints figures (no pass/fail).
#   bash bench/run.sh (as root)        (OW_BENCH_RUNS=N to change the sample size)
# Built with --release (OW_LAB_PROFILE=release), as installed on hosts.
set -euo pipefail
cd "$(dirname "$0")/.."
source tests/lab/lib.sh
N="${OW_BENCH_RUNS:-30}"
export OW_LAB_PROFILE="${OW_LAB_PROFILE:-release}"
lab_require
lab_build
lab_up

M() { python3 bench/measure.py "$@"; }
med() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])["median_ms"])' "$1"; }

# A second sshd, same settings and user, whose ForceCommand is /bin/true: the
# cost of an SSH login itself, which dominates.
BASE_PORT=$(lab_free_port)
lab_sshd_config "$BASE_PORT" "/bin/true" > "$LAB/etc/sshd_config.baseline"
/usr/sbin/sshd -D -e -f "$LAB/etc/sshd_config.baseline" 2>"$LAB/sshd-baseline.log" &
LAB_PIDS+=($!)
lab_wait_port "$BASE_PORT" "baseline sshd"

# Peak RSS of a full (first, creating) bootstrap, run as sshd would run it.
AUTH="$LAB/sshauth"
printf 'publickey %s\n' "$(cut -d' ' -f1,2 "$LAB/operator/id_ed25519-cert.pub")" > "$AUTH"
chown "$LAB_USER:" "$AUTH"; chmod 0600 "$AUTH"
RSS=$(M rss -- runuser -u "$LAB_USER" -- env -i SSH_ORIGINAL_COMMAND=bootstrap SSH_USER_AUTH="$AUTH" \
      SSH_CONNECTION="127.0.0.1 1 127.0.0.1 22" "$LAB/bin/ops-warden" --config "$LAB/etc/ops-warden.toml" force-command)

lab_say "timing ($N runs each)"
SSH_OPTS=(-F /dev/null -T -i "$LAB/operator/id_ed25519" -o CertificateFile="$LAB/operator/id_ed25519-cert.pub"
  -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR)
T_BASE=$(M time "$N" -- ssh "${SSH_OPTS[@]}" -p "$BASE_PORT" "$LAB_USER@127.0.0.1" whoami)
T_WHOAMI=$(M time "$N" -- ssh "${SSH_OPTS[@]}" -p "$SSHD_PORT" "$LAB_USER@127.0.0.1" whoami)
T_BOOT=$(M time "$N" -- ssh "${SSH_OPTS[@]}" -p "$SSHD_PORT" "$LAB_USER@127.0.0.1" bootstrap)
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

python3 - "$T_BASE" "$T_WHOAMI" "$T_BOOT" "$T_TRUE" "$T_VERSION" "$T_REFUSED" "$T_RUNUSER" "$T_VERIFY" "$T_SHA" "$SIZE" "$RSS" "$N" <<'PY'
import json, sys
base, whoami, boot, true, ver, refused, runuser, verify, sha = (json.loads(x)["median_ms"] for x in sys.argv[1:10])
size, rss, n = int(sys.argv[10]), json.loads(sys.argv[11]), sys.argv[12]
mb = size / 1e6
print(f"""
ops-warden benchmarks (medians of {n} runs; loopback; {open('/proc/cpuinfo').read().count('processor')} cores)
  ssh … whoami via ops-warden      {whoami:8.1f} ms   vs ForceCommand /bin/true {base:8.1f} ms   ratio {whoami/base:5.2f}
  ssh … bootstrap (all reused)     {boot:8.1f} ms   vs ForceCommand /bin/true {base:8.1f} ms   ratio {boot/base:5.2f}
  ops-warden --version             {ver:8.2f} ms   vs /bin/true {true:6.2f} ms
  refused command (audited)        {refused:8.2f} ms   vs runuser /bin/true {runuser:6.2f} ms  (both via runuser)
  audit verify, {mb:.1f} MB / 200k rec {verify:8.1f} ms = {mb/verify*1000:6.1f} MB/s   vs sha256sum {sha:6.1f} ms = {mb/sha*1000:6.1f} MB/s
  peak RSS, full first bootstrap   {rss['peak_rss_kib']/1024:8.1f} MiB  (outcome {rss['outcome']})
""")
PY
