#!/usr/bin/env bash
# ops-warden host installer: activates the lane on a host where the package
# is installed. Renders the config, the principals file and the sshd snippet
# from flags (no placeholder is left), checks them with `sshd -t`, the
# effective settings for the lane user (`ops-warden check-config --sshd`,
# which runs `sshd -T -C user=…,host=…,addr=…` and reads every Match block
# for AcceptEnv), and only then reloads sshd. check-config's warnings (the
# lane user's home, PAM reading ~/.pam_environment) go to stderr. The lane
# user must exist, with a home it cannot write (the package's postinst makes
# ihub-bootstrap so: /usr/lib/ops-warden/home, root's, 0755).
# Idempotent: a second run with the same flags changes nothing and does not
# reload. Prints one JSON line: {"changed": [...], "unchanged": [...], "reloaded": bool}.
#
#   install.sh --ca-keys FILE --openbao-addr URL --interhub-url URL \
#              (--approle-dir DIR | --token-file PATH) [options]
#
# Options (defaults in brackets):
#   --lane-user NAME          [ihub-bootstrap]
#   --principal NAME          [agt-interhub-bootstrap]
#   --key-id-pattern GLOB     [agt-*-interhub-bootstrap*]
#   --max-ttl-secs N          [960]
#   --ca-keys FILE            the lane CA's public key(s); copied to /etc/ops-warden/lane-ca.pub
#   --openbao-addr URL        --openbao-ca FILE (pinned CA, for https)
#   --approle-dir DIR         holds role_id and secret_id (owned by the lane user, 0600)
#   --token-file PATH         an OpenBao Agent token sink instead of AppRole
#   --interhub-url URL        --interhub-ca FILE | --interhub-system-roots
#   --audit-group GROUP       [adm]
#   --binary PATH             [/usr/libexec/ops-warden/ops-warden]
#   --share DIR               [/usr/share/ops-warden]
#   --sshd-config FILE        [/etc/ssh/sshd_config] (its sshd_config.d must be included)
#   --no-reload               check, but leave sshd as it runs
set -euo pipefail

LANE_USER=ihub-bootstrap PRINCIPAL=agt-interhub-bootstrap KEY_ID_PATTERN='agt-*-interhub-bootstrap*'
MAX_TTL=960 CA_KEYS= OPENBAO_ADDR= OPENBAO_CA= APPROLE_DIR= TOKEN_FILE= INTERHUB_URL= INTERHUB_CA=
INTERHUB_SYSTEM_ROOTS=false AUDIT_GROUP=adm BINARY=/usr/libexec/ops-warden/ops-warden
SHARE=/usr/share/ops-warden SSHD_CONFIG=/etc/ssh/sshd_config RELOAD=true
die() { echo "install.sh: $*" >&2; exit 64; }
while [ $# -gt 0 ]; do
  case "$1" in
    --lane-user) LANE_USER="$2"; shift 2 ;;
    --principal) PRINCIPAL="$2"; shift 2 ;;
    --key-id-pattern) KEY_ID_PATTERN="$2"; shift 2 ;;
    --max-ttl-secs) MAX_TTL="$2"; shift 2 ;;
    --ca-keys) CA_KEYS="$2"; shift 2 ;;
    --openbao-addr) OPENBAO_ADDR="$2"; shift 2 ;;
    --openbao-ca) OPENBAO_CA="$2"; shift 2 ;;
    --approle-dir) APPROLE_DIR="$2"; shift 2 ;;
    --token-file) TOKEN_FILE="$2"; shift 2 ;;
    --interhub-url) INTERHUB_URL="$2"; shift 2 ;;
    --interhub-ca) INTERHUB_CA="$2"; shift 2 ;;
    --interhub-system-roots) INTERHUB_SYSTEM_ROOTS=true; shift ;;
    --audit-group) AUDIT_GROUP="$2"; shift 2 ;;
    --binary) BINARY="$2"; shift 2 ;;
    --share) SHARE="$2"; shift 2 ;;
    --sshd-config) SSHD_CONFIG="$2"; shift 2 ;;
    --no-reload) RELOAD=false; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown flag $1 (see --help)" ;;
  esac
done
[ "$(id -u)" = 0 ] || die "run as root"
[ -n "$CA_KEYS" ] && [ -r "$CA_KEYS" ] || die "--ca-keys FILE is required"
[ -n "$OPENBAO_ADDR" ] || die "--openbao-addr is required"
[ -n "$INTERHUB_URL" ] || die "--interhub-url is required"
[ -n "$APPROLE_DIR" ] || [ -n "$TOKEN_FILE" ] || die "--approle-dir or --token-file is required"
getent passwd "$LANE_USER" >/dev/null || die "no user $LANE_USER (the package's postinst makes ihub-bootstrap)"
[ -x "$BINARY" ] || die "$BINARY is missing (install the package)"
for v in "$LANE_USER" "$PRINCIPAL" "$KEY_ID_PATTERN" "$OPENBAO_ADDR" "$INTERHUB_URL"; do
  case "$v" in *[\"\\\|$'\n']*) die "a value holds a quote, backslash, | or newline: $v" ;; esac
done

CHANGED=() UNCHANGED=()
# put SRC DEST MODE: installs SRC as DEST (root-owned) only when it differs.
put() {
  if [ -f "$2" ] && cmp -s "$1" "$2" && [ "$(stat -c %a:%U "$2")" = "$3:root" ]; then
    UNCHANGED+=("$2")
  else
    install -D -o root -g root -m "$3" "$1" "$2"
    CHANGED+=("$2")
  fi
}
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

ETC=/etc/ops-warden
CONFIG="$ETC/ops-warden.toml"
PRINCIPALS_DIR=/etc/ssh/auth_principals
SNIPPET_DIR="$(dirname "$SSHD_CONFIG")/sshd_config.d"
install -d -o root -g root -m 0755 "$ETC" "$PRINCIPALS_DIR" "$SNIPPET_DIR"

put "$CA_KEYS" "$ETC/lane-ca.pub" 644
[ -z "$OPENBAO_CA" ] || put "$OPENBAO_CA" "$ETC/openbao-ca.pem" 644
[ -z "$INTERHUB_CA" ] || put "$INTERHUB_CA" "$ETC/interhub-ca.pem" 644

{
  echo "# $CONFIG — rendered by $SHARE/install.sh; rerun it to change (see ops-warden.toml.example)."
  echo "[lane]"
  echo "principal = \"$PRINCIPAL\""
  echo "user = \"$LANE_USER\""
  echo "require_sole_principal = true"
  echo "key_id_pattern = \"$KEY_ID_PATTERN\""
  echo "ca_keys_file = \"$ETC/lane-ca.pub\""
  echo "max_ttl_secs = $MAX_TTL"
  echo "[audit]"
  echo "path = \"/var/log/ops-warden/audit.jsonl\""
  echo "group = \"$AUDIT_GROUP\""
  echo "[state]"
  echo "dir = \"/var/lib/ops-warden\""
  echo "[openbao]"
  echo "addr = \"$OPENBAO_ADDR\""
  [ -z "$OPENBAO_CA" ] || echo "ca_bundle = \"$ETC/openbao-ca.pem\""
  if [ -n "$TOKEN_FILE" ]; then
    echo "auth = \"token-file\""
    echo "token_file = \"$TOKEN_FILE\""
  else
    echo "auth = \"approle\""
    echo "role_id_file = \"$APPROLE_DIR/role_id\""
    echo "secret_id_file = \"$APPROLE_DIR/secret_id\""
  fi
  echo "[interhub]"
  echo "base_url = \"$INTERHUB_URL\""
  [ -z "$INTERHUB_CA" ] || echo "ca_bundle = \"$ETC/interhub-ca.pem\""
  [ "$INTERHUB_SYSTEM_ROOTS" = false ] || echo "use_system_roots = true"
  echo "manifest = \"$SHARE/seeds/ops-hub-manifest.draft.json\""
  echo "widgets = \"$SHARE/seeds/ops-hub-widgets.seed.json\""
} > "$WORK/config"
put "$WORK/config" "$CONFIG" 644

sed -e '/^agt-interhub-bootstrap$/d' "$SHARE/sshd/auth_principals.ihub-bootstrap" > "$WORK/principals"
echo "$PRINCIPAL" >> "$WORK/principals"
put "$WORK/principals" "$PRINCIPALS_DIR/$LANE_USER" 644

sed -e "s|@LANE_USER@|$LANE_USER|g" -e "s|@CA_KEYS@|$ETC/lane-ca.pub|g" \
    -e "s|@PRINCIPALS_DIR@|$PRINCIPALS_DIR|g" -e "s|@OPS_WARDEN@|$BINARY|g" \
    -e "s|@CONFIG@|$CONFIG|g" "$SHARE/sshd/50-ops-warden.conf" > "$WORK/snippet"
if grep -q '@[A-Z_]*@' "$WORK/snippet"; then die "a placeholder was left in the sshd snippet"; fi
put "$WORK/snippet" "$SNIPPET_DIR/50-ops-warden.conf" 644

# Nothing reaches a running sshd before all of this passes.
/usr/sbin/sshd -t -f "$SSHD_CONFIG" || die "sshd -t refused the result; sshd left as it runs"
if ! "$BINARY" --config "$CONFIG" check-config --sshd --sshd-config "$SSHD_CONFIG" > "$WORK/check.json"; then
  cat "$WORK/check.json" >&2
  die "check-config refused the result; sshd left as it runs"
fi
# Warnings do not stop the install, but are shown: a lane user's home it can
# write, or sshd's PAM stack reading ~/.pam_environment (set user_readenv=0).
if ! grep -q '"warnings":\[\]' "$WORK/check.json"; then
  echo "install.sh: check-config warns (\"warnings\"):" >&2
  cat "$WORK/check.json" >&2
fi

RELOADED=false
if [ "$RELOAD" = true ] && [ "${#CHANGED[@]}" -gt 0 ]; then
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
    systemctl reload ssh.service && RELOADED=true
  elif [ -s /run/sshd.pid ]; then
    kill -HUP "$(cat /run/sshd.pid)" && RELOADED=true
  fi
fi
json_list() { local first=1; printf '['; for x in "$@"; do [ $first = 1 ] || printf ','; printf '"%s"' "$x"; first=0; done; printf ']'; }
printf '{"changed":%s,"unchanged":%s,"reloaded":%s}\n' \
  "$(json_list "${CHANGED[@]+"${CHANGED[@]}"}")" "$(json_list "${UNCHANGED[@]+"${UNCHANGED[@]}"}")" "$RELOADED"
