#!/usr/bin/env bash
# The test command: install what is missing, then run every test.
# Needs root (the end-to-end tests start sshd and log in as a lane user).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/setup.sh
export OW_BAO="$PWD/.venv/bin/bao"
cargo build --locked --bins
cargo test --locked -- --test-threads="${OW_TEST_THREADS:-2}"
# The hermetic tier once more as an unprivileged user: it must need no root.
# What it reads (the binaries, tests/cmd, schema/) is staged where that user
# can read it, wherever this clone lives.
it=$(cargo test --locked --test it --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json, sys; print(*[j["executable"] for j in map(json.loads, sys.stdin) if j.get("executable") and j["target"]["name"] == "it"])')
stage=$(mktemp -d /tmp/ow-hermetic.XXXXXX)
mkdir -p "$stage/tests"
cp -r tests/cmd "$stage/tests/"
cp -r schema "$stage/"
cp target/debug/ops-warden "$it" "$stage/"
chmod -R a+rX "$stage"
su nobody -s /bin/sh -c "cd '$stage' && OW_REPO='$stage' OW_BIN='$stage/ops-warden' '$stage/$(basename "$it")' hermetic"
rm -rf "$stage"
