#!/usr/bin/env bash
# Installs llama.cpp for the GGUF checks: npm's node-llama-cpp with its prebuilt CPU binary
# (@node-llama-cpp/linux-x64; the other platform and GPU packages are left out) into DIR,
# a scratch folder outside the source tree. Time-boxed; exits non-zero when npm is missing
# or the install fails (offline).
#   tests/gguf/install_client.sh DIR
set -euo pipefail
dir=${1:?usage: install_client.sh DIR}
version=3.22.1
command -v npm >/dev/null || { echo "install_client: npm not found" >&2; exit 1; }
mkdir -p "$dir"
[ -f "$dir/package.json" ] || echo '{"private": true}' >"$dir/package.json"
if [ -f "$dir/node_modules/node-llama-cpp/package.json" ] &&
   grep -q "\"version\": \"$version\"" "$dir/node_modules/node-llama-cpp/package.json"; then
  exit 0
fi
timeout 240 npm install --prefix "$dir" --no-audit --no-fund --omit=optional --ignore-scripts \
  --fetch-retries=1 --fetch-retry-maxtimeout=10000 \
  "node-llama-cpp@$version" "@node-llama-cpp/linux-x64@$version" >&2
