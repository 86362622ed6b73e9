# OpenBao Agent for one ops-warden host: logs in with the host's AppRole and
# keeps a short-lived token in a sink file that ops-warden reads
# (`[openbao] auth = "token-file"`, `token_file = <the sink>`). The secret_id
# arrives response-wrapped (setup.sh with WRAP_TTL): the agent unwraps it once
# and removes the file, so no plain secret_id is ever on disk.
#
# Run as the lane user (the sink must belong to it, mode 0600), e.g.
#   runuser -u ihub-bootstrap -- bao agent -config=/etc/ops-warden/agent.hcl
# @BAO_ADDR@, @CA_BUNDLE_LINE@, @APPROLE_DIR@ and @SINK@ are filled in per
# host (the tests render them the same way).

pid_file = "@SINK@.pid"

vault {
  address = "@BAO_ADDR@"
  @CA_BUNDLE_LINE@
}

auto_auth {
  method "approle" {
    mount_path = "auth/approle"
    config = {
      role_id_file_path                   = "@APPROLE_DIR@/role_id"
      secret_id_file_path                 = "@APPROLE_DIR@/secret_id.wrapped"
      secret_id_response_wrapping_path    = "auth/approle/role/ops-warden-host/secret-id"
      remove_secret_id_file_after_reading = true
    }
  }

  sink "file" {
    config = {
      path = "@SINK@"
      mode = 0600
    }
  }
}
