#!/usr/bin/env bash
# A/B of the rerun `bootstrap`, ops-warden alone (as sshd runs it, no login),
# this build against an older one, one run of each in turn on one lab: the
# machine's drift hits both alike. Prints each round's median (no pass/fail).
#   OW_BENCH_BASELINE=/path/to/older/ops-warden bash bench/ab.sh   (as root)
#   OW_AB_ROUNDS (3), OW_AB_RUNS (40 of each per round, alternating)
set -euo pipefail
cd "$(dirname "$0")/.."
source tests/lab/lib.sh
: "${OW_BENCH_BASELINE:?set OW_BENCH_BASELINE to an older ops-warden binary}"
ROUNDS="${OW_AB_ROUNDS:-3}"; RUNS="${OW_AB_RUNS:-40}"
export OW_LAB_PROFILE="${OW_LAB_PROFILE:-release}"
lab_require
lab_build
lab_up
AUTH="$LAB/sshauth"
printf 'publickey %s\n' "$(cut -d' ' -f1,2 "$LAB/operator/id_ed25519-cert.pub")" > "$AUTH"
chown "$LAB_USER:" "$AUTH"; chmod 0600 "$AUTH"
install -m 0755 "$OW_BENCH_BASELINE" "$LAB/bin/ops-warden-baseline"
# (An older parser refuses keys it does not know.)
grep -v '^failover_secs' "$LAB/etc/ops-warden.toml" > "$LAB/etc/baseline.toml"
chmod 0644 "$LAB/etc/baseline.toml"
AS_SSHD=(runuser -u "$LAB_USER" -- env -i SSH_ORIGINAL_COMMAND=bootstrap SSH_USER_AUTH="$AUTH"
  SSH_CONNECTION="127.0.0.1 1 127.0.0.1 22")
NEW=("${AS_SSHD[@]}" "$LAB/bin/ops-warden" --config "$LAB/etc/ops-warden.toml" force-command)
OLD=("${AS_SSHD[@]}" "$LAB/bin/ops-warden-baseline" --config "$LAB/etc/baseline.toml" force-command)
"${NEW[@]}" >/dev/null   # the first (creating) run
for round in $(seq 1 "$ROUNDS"); do
  # One run of each in turn, RUNS times: the machine's drift hits both alike.
  ab=$(python3 bench/measure.py ab "$RUNS" -- "${NEW[@]}" --- "${OLD[@]}")
  python3 - "$round" "$ab" <<'PY'
import json, sys
d = json.loads(sys.argv[2])
n, o = d["a"]["median_ms"], d["b"]["median_ms"]
if d["failures"]:
    sys.exit(f"round {sys.argv[1]}: {d['failures']} runs failed")
print(f"round {sys.argv[1]}: this build {n:6.1f} ms   older build {o:6.1f} ms   ratio {n/o:4.2f}"
      f"   (medians of {d['runs']} alternating runs each; failures {d['failures']})")
PY
done
