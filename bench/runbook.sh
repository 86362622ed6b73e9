#!/usr/bin/env bash
# The runbook's attended path, the benchmark's reference for a rerun: bao CLI
# get (the operator key and the stored runtime key, into 0600 temp files) →
# the API helper (tests/sim/test_helper.py stands in for the ops-hub repo's
# scripts/ops-hub-bootstrap-api.py, with the same interface) → bao CLI put of
# the runtime key. No secret is printed.
#   env: BAO (the CLI), BAO_ADDR, BAO_TOKEN, IHUB_BASE, SEEDS_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
umask 077
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$BAO" kv get -field=IHUB_OPERATOR_KEY secret/platform/operators/interhub/operator > "$work/operator"
"$BAO" kv get -field=OPS_HUB_KEY secret/platform/operators/ops-hub/runtime > "$work/runtime"
IHUB_OPERATOR_KEY_FILE="$work/operator" OPS_HUB_KEY_FILE="$work/runtime" TMPDIR="$work" \
  IHUB_SKIP_EVENT=1 python3 tests/sim/test_helper.py "$SEEDS_DIR" > "$work/out.json"
"$BAO" kv put secret/platform/operators/ops-hub/runtime OPS_HUB_KEY=- < "$work/runtime" > /dev/null
