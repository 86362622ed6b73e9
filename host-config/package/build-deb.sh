#!/usr/bin/env bash
# Builds the Debian package: release binary, man pages and completions from
# the command line's definition (examples/gen_assets.rs), then cargo-deb.
# Prints the .deb's path. Needs cargo-deb (`cargo install cargo-deb`).
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v cargo-deb >/dev/null || cargo install --locked cargo-deb --version 3.8.0 >&2
cargo build --release --locked --bin ops-warden >&2
cargo run --quiet --locked --example gen_assets -- target/assets >&2
cargo deb --no-build --locked --output target/debian >&2
ls -t target/debian/ops-warden_*.deb | head -1
