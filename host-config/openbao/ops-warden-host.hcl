# Policy of the host's AppRole (role "ops-warden-host"): least privilege for
# the ops-warden lane. Paths are the KV v2 API paths under mount "secret".

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

# read: a path whose latest version holds no key (after `bao kv delete`) is
# reused at its current version instead of failing every run.
# update: each stored version gets custom metadata naming the run, the host
# and the certificate key id that stored it, so an auditor reading OpenBao
# alone can tell who wrote the live key. The price: update here also lets the
# host change this path's max_versions and cas_required (ops-warden never
# does; every write it makes carries cas regardless). Where that is not
# acceptable, apply ops-warden-host.least.hcl instead: ops-warden then skips
# the custom metadata and says so in the evidence (openbao.notes).
path "secret/metadata/platform/operators/ops-hub/runtime" {
  capabilities = ["read", "update"]
}

# sys/capabilities-self (the pre-flight), auth/token/lookup-self and
# auth/token/revoke-self come from OpenBao's built-in "default" policy.
