#!/usr/bin/env bash
# Applies the lane's OpenBao objects with the real `bao` CLI. Idempotent.
#
#   BAO_ADDR, BAO_TOKEN   an admin token (never printed)
#   BAO=/path/to/bao      the CLI (default: bao on PATH)
#   SSH_CA_KEY_TYPE       ed25519 (default) or rsa, for a newly generated CA
#   OUT_DIR               if set: writes role_id, secret_id (0600) and
#                         lane-ca.pub there, for the host's config
#
# Objects: policy ops-warden-host (ops-warden-host.hcl), AppRole
# ops-warden-host, SSH engine at ssh-client-signer/ with its CA and the role
# interhub-bootstrap (ssh-role-interhub-bootstrap.json), policy
# ops-ssh-wrapper (ops-ssh-wrapper.hcl).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
BAO="${BAO:-bao}"
: "${BAO_ADDR:?set BAO_ADDR}" "${BAO_TOKEN:?set BAO_TOKEN}"
export BAO_ADDR BAO_TOKEN

"$BAO" policy write ops-warden-host "$here/ops-warden-host.hcl" >/dev/null
"$BAO" policy write ops-ssh-wrapper "$here/ops-ssh-wrapper.hcl" >/dev/null

if ! "$BAO" auth list -format=json | grep -q '"approle/"'; then
  "$BAO" auth enable approle >/dev/null
fi
# Short-lived, single-purpose tokens; ops-warden revokes its token at the end.
"$BAO" write auth/approle/role/ops-warden-host \
  token_policies=ops-warden-host token_ttl=5m token_max_ttl=15m \
  token_type=service secret_id_ttl=0 token_no_default_policy=false >/dev/null

if ! "$BAO" secrets list -format=json | grep -q '"ssh-client-signer/"'; then
  "$BAO" secrets enable -path=ssh-client-signer ssh >/dev/null
fi
if ! "$BAO" read -field=public_key ssh-client-signer/config/ca >/dev/null 2>&1; then
  "$BAO" write ssh-client-signer/config/ca generate_signing_key=true \
    key_type="${SSH_CA_KEY_TYPE:-ed25519}" >/dev/null
fi
"$BAO" write ssh-client-signer/roles/interhub-bootstrap @"$here/ssh-role-interhub-bootstrap.json" >/dev/null

if [ -n "${OUT_DIR:-}" ]; then
  umask 077
  mkdir -p "$OUT_DIR"
  "$BAO" read -field=role_id auth/approle/role/ops-warden-host/role-id > "$OUT_DIR/role_id"
  "$BAO" write -f -field=secret_id auth/approle/role/ops-warden-host/secret-id > "$OUT_DIR/secret_id"
  "$BAO" read -field=public_key ssh-client-signer/config/ca > "$OUT_DIR/lane-ca.pub"
  chmod 0644 "$OUT_DIR/lane-ca.pub"
fi
echo "openbao setup: policy ops-warden-host, approle ops-warden-host, ssh-client-signer/roles/interhub-bootstrap applied"
