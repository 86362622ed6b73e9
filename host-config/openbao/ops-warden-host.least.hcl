# The narrowest policy of the host's AppRole (role "ops-warden-host"): as
# ops-warden-host.hcl, but the runtime key's metadata is read-only (no custom
# metadata is written; the evidence notes it). Paths are the KV v2 API paths
# under mount "secret".

# The Inter-Hub operator key: read, nothing else.
path "secret/data/platform/operators/interhub/operator" {
  capabilities = ["read"]
}

# The ops-hub runtime key: create (first store, cas=0), update (rotation,
# cas=<current version>), read (reuse an existing key; read back after write).
# No delete, no list, no destroy: a stored display-once key cannot be lost
# through this role.
path "secret/data/platform/operators/ops-hub/runtime" {
  capabilities = ["create", "read", "update"]
}

# read only: a path whose latest version holds no key (after `bao kv delete`)
# is reused at its current version; nothing here can change max_versions or
# cas_required.
path "secret/metadata/platform/operators/ops-hub/runtime" {
  capabilities = ["read"]
}

# sys/capabilities-self (the pre-flight), auth/token/lookup-self and
# auth/token/revoke-self come from OpenBao's built-in "default" policy.
