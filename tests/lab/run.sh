#!/usr/bin/env bash
# The main job in one command, on this machine: a lane host on 127.0.0.1
# (real OpenBao, the Inter-Hub simulator, real sshd with host-config/), an
# operator certificate from OpenBao's SSH engine, `ssh … bootstrap` twice
# (first creates, second reuses), the evidence, the audit review, teardown.
#
#   bash tests/lab/run.sh (as root)          (OW_LAB_KEEP=1 keeps the lab folder)
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/lab/lib.sh
lab_require
lab_build
lab_up

lab_say "ssh $LAB_USER@127.0.0.1 bootstrap   (first run: creates)"
lab_ssh "$SSHD_PORT" bootstrap | tee "$LAB/first.json" | python3 -m json.tool
lab_say "ssh $LAB_USER@127.0.0.1 bootstrap   (second run: reuses, writes nothing)"
lab_ssh "$SSHD_PORT" bootstrap > "$LAB/second.json"
python3 - "$LAB/first.json" "$LAB/second.json" <<'PY'
import json, sys
for f in sys.argv[1:]:
    d = json.load(open(f))
    steps = ", ".join(f"{s['step']}={s['status']}" for s in d["result"]["steps"])
    rk = d["result"]["runtime_key"]
    print(f"{d['outcome']:>4}  {steps}\n      runtime key {rk['prefix']} {rk['status']} at {rk['openbao_path']} v{rk['kv_version']}; audit seq {d['audit']['seq']}")
PY
lab_say "host-config/client/ops-ssh-wrapper 127.0.0.1 whoami   (the operators' reference invocation)"
BAO="$BAO" BAO_TOKEN="$WRAPPER_TOKEN" OPS_SSH_KEY="$LAB/operator/id_ed25519" OPS_SSH_USER="$LAB_USER" \
  OPS_SSH_PORT="$SSHD_PORT" OPS_SSH_STRICT=no OPS_SSH_KNOWN_HOSTS=/dev/null \
  bash host-config/client/ops-ssh-wrapper 127.0.0.1 whoami \
  | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["outcome"], d["caller"]["key_id"])'
lab_say "ssh … verify"
lab_ssh "$SSHD_PORT" verify | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["outcome"], json.dumps(d["result"]["validation"]))'
lab_say "ssh … 'whoami; id'   (refused: no shell here)"
lab_ssh "$SSHD_PORT" 'whoami; id' | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["outcome"], d["error"]["code"])' || true
lab_say "ops-warden audit verify"
lab_warden audit verify
lab_say "ops-warden audit show"
lab_warden audit show
lab_say "done: the lane works end to end; tearing down"
