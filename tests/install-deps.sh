#!/usr/bin/env bash
# Installs what the tests need and are missing, and says what it installs: the wasm32-wasip1
# target, Wasmtime (from PyPI, to run core's tests as WASI), and the peers the end-to-end tests
# run from Debian's packages: curl, wget, aria2c and python3 as clients, nginx as a server,
# chromium as a browser, promtool and goaccess as operators' tools, openssl for certificates,
# util-linux `script` for a terminal, redis-server as the balancers' shared state. Used by
# `just test` and `.ci/run` alike.
# Needs Rust via rustup, Python 3 with pip, and root or sudo for apt-get.
set -euo pipefail

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip1; then
  echo "install-deps: rustup target add wasm32-wasip1"
  rustup target add wasm32-wasip1
fi
if ! rustup component list --installed 2>/dev/null | grep -q '^clippy'; then
  echo "install-deps: rustup component add rustfmt clippy"
  rustup component add rustfmt clippy
fi

if ! python3 -c 'import wasmtime' 2>/dev/null; then
  echo "install-deps: pip install wasmtime"
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore 'wasmtime>=30'
fi

# command -> Debian package
declare -A packages=(
  [curl]=curl [wget]=wget [python3]=python3 [aria2c]=aria2 [nginx]=nginx-light
  [chromium]=chromium [promtool]=prometheus [goaccess]=goaccess [openssl]=openssl
  [script]=util-linux [redis-server]=redis-server
)
missing=()
for tool in "${!packages[@]}"; do
  command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || missing+=("${packages[$tool]}")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || {
      echo "install-deps: need root or sudo to install ${missing[*]} from Debian's packages" >&2
      exit 1
    }
    sudo=(sudo)
  fi
  echo "install-deps: apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
