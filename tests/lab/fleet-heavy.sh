#!/usr/bin/env bash
# The heavy variants of the fleet and HA tests, outside CI (CI runs their
# core: 8 hosts, one leader kill per OpenBao call):
#   - the fleet race with OW_FLEET_HOSTS hosts (default 32), each in its own
#     network namespace with its own sshd, AppRole and audit log;
#   - both the fleet and the HA test repeated OW_HEAVY_ROUNDS times (default
#     5), for the races whose timing a single run may not hit.
# As root, from the repo root: bash tests/lab/fleet-heavy.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "$(id -u)" = 0 ] || { echo "run as root (network namespaces, sshd)" >&2; exit 1; }
bash tests/setup.sh >&2
export OW_BAO="$PWD/.venv/bin/bao"
export OW_FLEET_HOSTS="${OW_FLEET_HOSTS:-32}"
rounds="${OW_HEAVY_ROUNDS:-5}"
cargo build --locked --tests >&2
for i in $(seq 1 "$rounds"); do
  echo "== round $i/$rounds: fleet of $OW_FLEET_HOSTS hosts, then the leader killed at each OpenBao call" >&2
  log="$(mktemp)"
  if ! cargo test --locked --test it -- --test-threads=1 fleet:: ha:: --nocapture >"$log" 2>&1; then
    grep -E '^(race|test |thread)' "$log" >&2 || true
    echo "round $i failed (whole output: $log)" >&2
    exit 1
  fi
  grep -E '^(race|test result)' "$log" >&2
  rm -f "$log"
done
echo "all $rounds rounds passed" >&2
