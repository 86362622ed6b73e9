#!/usr/bin/env bash
# Applies the lane's OpenBao objects with the real `bao` CLI. Idempotent: a
# rerun rewrites the same policies and roles and mints no new secret_id
# unless asked (NEW_SECRET_ID=1).
#
#   BAO_ADDR, BAO_TOKEN   an admin token (never printed)
#   HOST_CIDRS            required: the host(s)' addresses as CIDRs
#                         (comma-separated); the secret_id and the tokens it
#                         logs in to work only from there
#   SECRET_ID_TTL         lifetime of a secret_id (default 720h); rotate
#                         before it runs out (NEW_SECRET_ID=1)
#   BAO=/path/to/bao      the CLI (default: bao on PATH)
#   SSH_CA_KEY_TYPE       ed25519 (default) or rsa, for a newly generated CA
#   OUT_DIR               if set: writes role_id and lane-ca.pub there, and a
#                         secret_id when none is there yet (or NEW_SECRET_ID=1):
#   WRAP_TTL              if set (e.g. 10m): the secret_id is delivered
#                         response-wrapped, as OUT_DIR/secret_id.wrapped, for
#                         the OpenBao Agent (agent.hcl) to unwrap once; the
#                         plain secret_id never exists on disk. Without it:
#                         OUT_DIR/secret_id (0600) for ops-warden's own login.
#
#   ROLE_NAME             the AppRole's name (default ops-warden-host); a
#                         fleet gives each host its own, bound to its address
#   HOST_POLICY           "least" applies ops-warden-host.least.hcl (metadata
#                         read-only: no custom metadata); default: the
#                         shipped ops-warden-host.hcl.
#
# Objects: policy ops-warden-host (ops-warden-host.hcl), AppRole
# ops-warden-host, SSH engine at ssh-client-signer/ with its CA and the role
# interhub-bootstrap (ssh-role-interhub-bootstrap.json), policy
# ops-ssh-wrapper (ops-ssh-wrapper.hcl).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
BAO="${BAO:-bao}"
ROLE_NAME="${ROLE_NAME:-ops-warden-host}"
case "$ROLE_NAME" in
  *[!a-z0-9-]*|"") echo "ROLE_NAME: lowercase letters, digits and dashes only" >&2; exit 64 ;;
esac
: "${BAO_ADDR:?set BAO_ADDR}" "${BAO_TOKEN:?set BAO_TOKEN}"
: "${HOST_CIDRS:?set HOST_CIDRS: the host addresses (CIDRs) the AppRole may be used from}"
export BAO_ADDR BAO_TOKEN

case "${HOST_POLICY:-}" in
  "") host_policy="$here/ops-warden-host.hcl" ;;
  least) host_policy="$here/ops-warden-host.least.hcl" ;;
  *) echo "HOST_POLICY: use least, or leave it unset" >&2; exit 64 ;;
esac
"$BAO" policy write ops-warden-host "$host_policy" >/dev/null
"$BAO" policy write ops-ssh-wrapper "$here/ops-ssh-wrapper.hcl" >/dev/null

# (Listings are read whole before matching: with pipefail, `grep -q` closing
# the pipe early would make a present mount look absent.)
auths="$("$BAO" auth list -format=json)"
if ! grep -q '"approle/"' <<<"$auths"; then
  "$BAO" auth enable approle >/dev/null
fi
# Short-lived, single-purpose tokens (ops-warden revokes its own at the end);
# secret_ids that expire; both usable only from the host's addresses.
"$BAO" write "auth/approle/role/$ROLE_NAME" \
  token_policies=ops-warden-host token_ttl=5m token_max_ttl=15m \
  token_type=service token_no_default_policy=false \
  token_bound_cidrs="$HOST_CIDRS" secret_id_bound_cidrs="$HOST_CIDRS" \
  secret_id_ttl="${SECRET_ID_TTL:-720h}" secret_id_num_uses=0 >/dev/null

mounts="$("$BAO" secrets list -format=json)"
if ! grep -q '"ssh-client-signer/"' <<<"$mounts"; then
  "$BAO" secrets enable -path=ssh-client-signer ssh >/dev/null
fi
if ! "$BAO" read -field=public_key ssh-client-signer/config/ca >/dev/null 2>&1; then
  "$BAO" write ssh-client-signer/config/ca generate_signing_key=true \
    key_type="${SSH_CA_KEY_TYPE:-ed25519}" >/dev/null
fi
"$BAO" write ssh-client-signer/roles/interhub-bootstrap @"$here/ssh-role-interhub-bootstrap.json" >/dev/null

minted=no
if [ -n "${OUT_DIR:-}" ]; then
  umask 077
  mkdir -p "$OUT_DIR"
  "$BAO" read -field=role_id "auth/approle/role/$ROLE_NAME/role-id" > "$OUT_DIR/role_id.tmp"
  mv "$OUT_DIR/role_id.tmp" "$OUT_DIR/role_id"
  if [ "${NEW_SECRET_ID:-0}" = 1 ] || { [ ! -s "$OUT_DIR/secret_id" ] && [ ! -s "$OUT_DIR/secret_id.wrapped" ]; }; then
    if [ -n "${WRAP_TTL:-}" ]; then
      # The wrapping token is single-use: whoever unwraps it first gets the
      # secret_id, and a second unwrap (an interception) fails loudly.
      "$BAO" write -f -wrap-ttl="$WRAP_TTL" -field=wrapping_token \
        "auth/approle/role/$ROLE_NAME/secret-id" > "$OUT_DIR/secret_id.wrapped.tmp"
      mv "$OUT_DIR/secret_id.wrapped.tmp" "$OUT_DIR/secret_id.wrapped"
      rm -f "$OUT_DIR/secret_id"
    else
      "$BAO" write -f -field=secret_id "auth/approle/role/$ROLE_NAME/secret-id" > "$OUT_DIR/secret_id.tmp"
      mv "$OUT_DIR/secret_id.tmp" "$OUT_DIR/secret_id"
      rm -f "$OUT_DIR/secret_id.wrapped"
    fi
    minted=yes
  fi
  "$BAO" read -field=public_key ssh-client-signer/config/ca > "$OUT_DIR/lane-ca.pub"
  chmod 0644 "$OUT_DIR/lane-ca.pub"
fi
echo "openbao setup: policy ops-warden-host, approle $ROLE_NAME (bound to $HOST_CIDRS), ssh-client-signer/roles/interhub-bootstrap applied; new secret_id: $minted"
