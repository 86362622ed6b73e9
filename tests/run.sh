#!/usr/bin/env bash
# The test command: install what is missing, then run every test.
# Needs root (the end-to-end tests start sshd and log in as a lane user).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/setup.sh
export OW_BAO="$PWD/.venv/bin/bao"
cargo build --locked --bins
cargo test --locked -- --test-threads="${OW_TEST_THREADS:-2}"
