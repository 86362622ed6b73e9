#!/usr/bin/env bash
# The test command: install what is missing, then run every test.
# Needs root (the end-to-end tests start sshd and log in as a lane user).
#
# The run has a deadline (OW_TEST_TIMEOUT, default 40m; each test also has
# its own, see `common::deadline`): a hung run ends, naming the tests that
# were still running. Every error code README.md lists must have been seen
# at run time (`common::code_of` records each one into OW_CODES_SEEN), or
# be asserted by a tests/cmd case or a row of wiki/FaultMatrix.md.
set -euo pipefail
cd "$(dirname "$0")/.."

stage=""
test_pid=""
cleanup() {
  if [ -n "$test_pid" ]; then kill -TERM "$test_pid" 2>/dev/null || true; fi
  if [ -n "$stage" ]; then rm -rf "$stage"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

bash tests/setup.sh
export OW_BAO="$PWD/.venv/bin/bao"
cargo build --locked --bins

target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
mkdir -p "$target_dir"
log="$target_dir/test-run.log"
export OW_CODES_SEEN="$target_dir/codes-seen.txt"
rm -f "$OW_CODES_SEEN" "$log"
: >"$OW_CODES_SEEN"
: >"$log"
# The output goes to a file, shown as it grows: a process the tests left
# behind cannot hold a pipe open and hang this script.
timeout --kill-after=60 "${OW_TEST_TIMEOUT:-40m}" \
  cargo test --locked -- --test-threads="${OW_TEST_THREADS:-2}" >"$log" 2>&1 &
test_pid=$!
tail -n +1 -f --pid="$test_pid" "$log" || true
rc=0
wait "$test_pid" || rc=$?
test_pid=""
if [ "$rc" != 0 ]; then
  # Tests libtest said were running for over 60 s (or, one test at a time,
  # announced) and that never reported a result: the ones a deadline (the
  # run's or a test's own) cut short.
  hung=$(python3 - "$log" <<'EOF'
import re, sys
text = open(sys.argv[1], errors="replace").read()
started = re.findall(r"^test (\S+) (?:has been running for over 60 seconds|\.\.\. *)$", text, re.M)
done = set(re.findall(r"^test (\S+) \.\.\. (?:ok|FAILED|ignored)", text, re.M))
print("\n".join(t for t in dict.fromkeys(started) if t not in done))
EOF
) || hung=""
  case "$rc" in
    124 | 137) echo "tests/run.sh: cargo test passed its deadline (${OW_TEST_TIMEOUT:-40m}; exit $rc)" >&2 ;;
    *) echo "tests/run.sh: cargo test failed (exit $rc); its output is in $log" >&2 ;;
  esac
  grep -h '^TEST DEADLINE: ' "$log" >&2 || true
  if [ -n "$hung" ]; then
    echo "tests/run.sh: still running when the run ended:" >&2
    printf '%s\n' "$hung" | sed 's/^/  /' >&2
  fi
  exit "$rc"
fi

# Every README error code was seen at run time, or is asserted exactly by a
# tests/cmd case or the fault matrix's table (both compared by running tests).
python3 - "$OW_CODES_SEEN" <<'EOF'
import glob, re, sys
seen = set(open(sys.argv[1]).read().split())
readme = []
for line in open("README.md"):
    # As common::readme_codes(): | `code` | exit | …
    cells = [c.strip() for c in line.split("|")][1:]
    if len(cells) >= 2 and len(cells[0]) > 2 and cells[0][0] == "`" and cells[0][-1] == "`":
        try:
            int(cells[1])
        except ValueError:
            continue
        readme.append(cells[0][1:-1])
if len(readme) < 60:
    sys.exit(f"tests/run.sh: only {len(readme)} error codes read from README.md")
asserted = set()
for case in glob.glob("tests/cmd/*.toml"):
    try:
        import tomllib
        with open(case, "rb") as f:
            code = tomllib.load(f).get("code")
    except ImportError:  # Python before 3.11: the top-level `code = "…"` line
        m = re.search(r'^code\s*=\s*"([^"]*)"', open(case).read(), re.M)
        code = m and m.group(1)
    if isinstance(code, str):
        asserted.add(code)
for row in open("wiki/FaultMatrix.md"):
    if row.startswith("| "):
        cells = [c.strip() for c in row.split("|")]
        if len(cells) > 4:
            asserted.add(cells[4])
missing = [c for c in readme if c not in seen and c not in asserted]
if missing:
    print("tests/run.sh: README error codes no test saw at run time "
          "(through common::code_of), and no tests/cmd case or fault matrix row asserts:",
          file=sys.stderr)
    for c in missing:
        print(f"  {c}", file=sys.stderr)
    sys.exit(1)
print(f"tests/run.sh: all {len(readme)} README error codes were produced and asserted")
EOF
unset OW_CODES_SEEN

# The hermetic tier once more as an unprivileged user: it must need no root.
# What it reads (the binaries, tests/cmd, schema/) is staged where that user
# can read it, wherever this clone lives.
it=$(cargo test --locked --test it --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json, sys; print(*[j["executable"] for j in map(json.loads, sys.stdin) if j.get("executable") and j["target"]["name"] == "it"])')
stage=$(mktemp -d /tmp/ow-hermetic.XXXXXX)
mkdir -p "$stage/tests"
cp -r tests/cmd "$stage/tests/"
cp -r schema "$stage/"
cp "$target_dir/debug/ops-warden" "$it" "$stage/"
chmod -R a+rX "$stage"
su nobody -s /bin/sh -c "cd '$stage' && OW_REPO='$stage' OW_BIN='$stage/ops-warden' '$stage/$(basename "$it")' hermetic"
